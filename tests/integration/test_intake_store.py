"""Repository functions on SQLite and PostgreSQL: idempotent saves, duplicates, proposal replacement, jobs."""

from __future__ import annotations

import pytest

from models.document import Document, ErrorEntry, FieldValue
from models.proposal import Proposal
from worker.store import submissions as repo
from worker.store.db import session_scope
from worker.store.migrate import open_database


def _doc(sha: str, page: int = 1, part: int | None = None) -> Document:
    return Document(
        source=f"HS-1/{sha}.jpg",
        page=page,
        part=part,
        sha256=sha,
        doc_type="cccd_front",
        fields={"id_number": FieldValue(value="046090012345", confidence=0.9, box=[1, 2, 3, 4])},
        owners=[{"full_name": FieldValue(value="NGUYỄN VĂN AN", confidence=0.8)}],
    )


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, sqlite_url):  # type: ignore[no-untyped-def]
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = open_database(url)
    yield engine
    engine.dispose()


def test_save_file_result_is_idempotent(engine) -> None:  # type: ignore[no-untyped-def]
    docs = [_doc("a" * 64, 1), _doc("a" * 64, 2), _doc("a" * 64, 2, part=1)]
    errors = [ErrorEntry(source="HS-1/aaa.jpg#page=3", code="unreadable", message="blank page")]
    for _ in range(2):
        with session_scope(engine) as s:
            obj, inserted = repo.save_file_result(
                s, "HS-1", key="HS-1/a.jpg", version="etag:1", documents=docs, errors=errors, pipeline_version="t"
            )
    with session_scope(engine) as s:
        assert obj.status == "processed" and inserted == []  # the second save added nothing
        assert repo.document_count(s, "HS-1") == 3
        assert [d.page for d in repo.load_documents(s, "HS-1")] == [1, 2, 2]
        assert repo.object_counts(s) == {"processed": 1}
        assert repo.is_object_done(s, "", "HS-1/a.jpg", etag="1")
        assert not repo.is_object_done(s, "", "HS-1/a.jpg", etag="2")


def test_replace_proposals_swaps_the_ranked_set(engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        repo.lock_submission(s, "HS-2")
        repo.replace_proposals(
            s,
            "HS-2",
            [
                Proposal(parcel_id="P2", confidence=0.4, band="unlikely"),
                Proposal(parcel_id="P1", confidence=0.97, band="auto_accept"),
            ],
        )
    with session_scope(engine) as s:
        sub = repo.replace_proposals(s, "HS-2", [Proposal(parcel_id="P3", confidence=0.6, band="review")])
        assert (sub.best_band, sub.best_confidence) == ("review", 0.6)
    with session_scope(engine) as s:
        assert [p.parcel_id for p in repo.load_proposals(s, "HS-2")] == ["P3"]


def test_copy_documents_for_a_duplicate_upload(engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        original, _ = repo.save_file_result(s, "HS-3", key="HS-3/a.jpg", version="v1", documents=[_doc("b" * 64)])
        found = repo.find_processed_copy(s, "b" * 64)
        assert found is not None and found.id == original.id
        repo.lock_submission(s, "HS-4")
        dup = repo.record_object(
            s, submission_id="HS-4", bucket="", key="HS-4/a.jpg", version="v1", sha256="b" * 64,
            status="duplicate", duplicate_of=original.id,
        )  # fmt: skip
        copied = repo.copy_documents(s, from_object_id=original.id, to_submission_id="HS-4", to_object_id=dup.id)
        assert len(copied) == 1
        assert repo.copy_documents(s, from_object_id=original.id, to_submission_id="HS-4", to_object_id=dup.id) == []
        assert repo.document_count(s) == 2


def test_job_lifecycle_and_counts(engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        repo.start_job(s, "j1", key="HS-5/a.jpg", attempts=1)
        repo.start_job(s, "j2", key="HS-5/b.jpg", attempts=1)
        repo.finish_job(s, "j1", "done", seconds=1.5)
        repo.finish_job(s, "j2", "failed", error_code="corrupt_pdf", error_message="bad xref")
        repo.start_job(s, "j2", key="HS-5/b.jpg", attempts=2)
        repo.finish_job(s, "j2", "dead", error_code="internal_error", error_message="bug", dead_lettered=True)
    with session_scope(engine) as s:
        assert repo.job_counts(s) == {"done": 1, "dead": 1}
        assert repo.error_counts(s) == {"internal_error": 1}
        job = repo.get_job(s, "j2")
        assert job is not None and (job.attempts, job.dead_lettered) == (2, True)


def test_lock_submission_serialises_concurrent_rematches(engine) -> None:  # type: ignore[no-untyped-def]
    """Two files of one submission stored by two workers at once: the later re-match must see both."""
    import threading
    import time

    seen: list[int] = []

    def store_and_rematch(sha: str, delay: float) -> None:
        time.sleep(delay)
        with session_scope(engine) as s:
            repo.save_file_result(s, "HS-6", key=f"HS-6/{sha[:4]}.jpg", version="v", documents=[_doc(sha)])
            count = len(repo.load_documents(s, "HS-6"))
            seen.append(count)
            time.sleep(0.5)  # matching takes a while; the other worker stores its file meanwhile
            repo.replace_proposals(s, "HS-6", [Proposal(parcel_id=f"P-{count}", confidence=0.5, band="review")])

    with session_scope(engine) as s:
        repo.lock_submission(s, "HS-6")  # it exists already: only the row lock can serialise the two
    threads = [threading.Thread(target=store_and_rematch, args=(c * 64, d)) for c, d in (("c", 0.0), ("d", 0.1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(seen) == [1, 2]
    with session_scope(engine) as s:
        assert [p.parcel_id for p in repo.load_proposals(s, "HS-6")] == ["P-2"]
