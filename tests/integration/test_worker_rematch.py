"""Re-matching is idempotent: a stored document is written once and never changed; the checks between a
submission's documents are recomputed from them at each re-match and stored beside them (findings), so a
submission re-matched any number of times holds what it held after the first.

The submission here is the case that used to compound: the front of one person's card and the back of
another's, read from the committed sample set through the inbox and the queue worker, matched by the
project's matcher on the sample registry. Every re-match (after the second file, then three
`rematch_submission` messages) must leave documents, findings and proposals exactly as they were.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models import fields as F
from models.document import Document, FieldValue
from models.findings import SubmissionFindings, apply_findings
from models.messages import QueueMessage
from models.proposal import Proposal
from models.settings import Settings
from worker.intake import enqueue
from worker.intake.folder import DirectoryStore
from worker.intake.loop import WorkerOptions, settle_inbox
from worker.intake.processor import Processor
from worker.pipeline import check_submission
from worker.store import submissions as repo
from worker.store.db import session_scope
from worker.store.migrate import open_database
from worker.store.registry import import_csv
from worker.store.results import DocumentRow
from worker.wiring import build_worker

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set" / "submissions"
FRONT = SAMPLES / "S0008" / "cccd_front.jpg"  # one person's card ...
BACK = SAMPLES / "S0006" / "cccd_back.jpg"  # ... and another person's: the numbers contradict each other


def _drain(settings: Settings) -> dict[str, int]:
    options = WorkerOptions(drain=True, wait_s=0.2, settle_s=0.2, backoff_base_s=0.1)
    worker, watcher = build_worker(settings, options=options, propose=True)
    if watcher is not None:
        settle_inbox(watcher, worker.stop, interval_s=0.05)
    return dict(worker.run().outcomes)


def _state(engine: Any, sid: str) -> tuple[list[tuple[int, dict[str, Any], list[str]]], dict[str, Any], list[Any]]:
    """Everything a re-match could touch: the document rows, the findings, the proposals."""
    with session_scope(engine) as s:
        rows = s.execute(
            select(DocumentRow.id, DocumentRow.payload, DocumentRow.warnings)
            .where(DocumentRow.submission_id == sid)
            .order_by(DocumentRow.id)
        ).all()
        findings = repo.load_findings(s, sid).model_dump(mode="json")
        proposals = [p.model_dump(mode="json") for p in repo.load_proposals(s, sid)]
    return [(i, p, list(w)) for i, p, w in rows], findings, proposals


def test_rematching_through_the_queue_three_times_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    engine = open_database(settings.resolved_database_url)
    import_csv(SAMPLES.parent / "parcels.csv", engine)
    inbox = settings.resolved_inbox_dir / "HS-R"
    inbox.mkdir(parents=True)
    shutil.copyfile(FRONT, inbox / "front.jpg")
    assert _drain(settings) == {"processed": 1}
    shutil.copyfile(BACK, inbox / "back.jpg")
    assert _drain(settings) == {"processed": 1}  # the whole submission re-matched: the second check
    first = _state(engine, "HS-R")
    documents, findings, proposals = first
    assert len(documents) == 2 and proposals, "both cards read, and their holders own parcels in the registry"

    stored = [Document.model_validate(p) for _i, p, _w in documents]
    checked = apply_findings(stored, SubmissionFindings.model_validate(findings))
    mismatch = [w for d in checked for w in d.warnings if w.startswith("id_number_mismatch_between_cards")]
    assert len(mismatch) == 2, "flagged once on each card, whatever the number of re-matches"
    assert not [w for d in stored for w in d.warnings if w.startswith("id_number_mismatch_between_cards")]
    # a contradicted field's confidence is halved once, from what its card read
    for before, after in zip(stored, checked, strict=True):
        for name, fv in after.fields.items():
            if fv.confidence != before.fields[name].confidence:
                assert fv.confidence == round(before.fields[name].confidence * 0.5, 4), name

    for _ in range(3):
        enqueue(settings, QueueMessage(kind="rematch_submission", key="", submission_id="HS-R"))
        assert _drain(settings) == {"rematched": 1}
        assert _state(engine, "HS-R") == first
    engine.dispose()


def _card(sha: str, side: str, number: str, born: str) -> Document:
    return Document(
        source=f"HS-P/{sha[:4]}.jpg",
        sha256=sha,
        doc_type=f"cccd_{side}",  # type: ignore[arg-type]
        fields={
            F.ID_NUMBER: FieldValue(value=number, confidence=0.9, sources=["ocr"]),
            F.DATE_OF_BIRTH: FieldValue(value=born, confidence=0.9, sources=["ocr"]),
            F.CARD_GENERATION: FieldValue(value="cccd_chip_2021", confidence=0.95),
        },
    )


def _by_number(documents: list[Document]) -> list[Proposal]:
    """A stand-in matcher whose answer carries the confidences it was given, so a check applied twice
    would show in the stored proposals."""
    return [
        Proposal(parcel_id=str(d.value(F.ID_NUMBER)), confidence=d.fields[F.ID_NUMBER].confidence, band="review")
        for d in documents
    ]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_processor_rematch_is_a_function_of_the_stored_documents(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    engine = open_database(url)
    settings = Settings(data_dir=tmp_path / "data", database_url=url, _env_file=None)  # type: ignore[call-arg]
    processor = Processor(settings, engine, DirectoryStore(tmp_path / "inbox", settings), propose=_by_number)
    front = _card("a" * 64, "front", "046090012345", "1990-05-01")
    back = _card("b" * 64, "back", "046090012346", "1990-05-03")
    with session_scope(engine) as s:
        repo.save_file_result(s, "HS-P", key="HS-P/a.jpg", version="v", documents=[front])
        repo.save_file_result(s, "HS-P", key="HS-P/b.jpg", version="v", documents=[back])

    states = []
    for _ in range(3):
        assert processor.rematch("HS-P").status == "rematched"
        states.append(_state(engine, "HS-P"))
    assert states[0] == states[1] == states[2]
    documents, findings, proposals = states[0]
    assert [Document.model_validate(p) for _i, p, _w in documents] == [front, back]  # never written again
    assert findings == check_submission([front, back]).model_dump(mode="json")
    warnings = SubmissionFindings.model_validate(findings).warnings()
    assert sum(w.startswith("id_number_front_back_mismatch") for w in warnings) == 2
    assert sum(w.startswith("date_of_birth_front_back_mismatch") for w in warnings) == 2
    assert [p["confidence"] for p in proposals] == [0.45, 0.45]  # 0.9 halved once, not 0.225 on the 2nd
    engine.dispose()


def test_findings_are_a_pure_function_of_the_documents() -> None:
    """Checking leaves its input alone, gives the same findings every time, and applying them twice is
    applying them once (a document stored with an earlier re-match's warning baked in is not flagged again)."""
    docs = [
        _card("a" * 64, "front", "046090012345", "1990-05-01"),
        _card("b" * 64, "back", "046090012346", "1990-05-01"),
    ]
    before = [d.model_copy(deep=True) for d in docs]
    findings = check_submission(docs)
    assert docs == before
    assert check_submission(docs) == findings
    once = apply_findings(docs, findings)
    assert docs == before
    assert apply_findings(once, findings) == once
    assert check_submission(once).warnings() == []  # nothing new to say about documents already checked
    assert once[0].fields[F.ID_NUMBER].confidence == 0.45 and once[0].fields[F.DATE_OF_BIRTH].confidence == 0.9
