"""The matcher and the review state together: the band thresholds an admin saves in the review app are
the ones proposals are banded with, and re-matching a decided submission never overwrites the decision
silently (it is kept when the new best proposal agrees, the item is reopened with a note when not)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from models.document import Document, FieldValue
from models.proposal import Proposal
from models.settings import Settings
from worker.intake.processor import store_proposals
from worker.review.auth import create_user
from worker.review.decisions import decide
from worker.store.db import session_scope
from worker.store.migrate import open_database
from worker.store.registry import import_csv
from worker.store.results import SubmissionRow
from worker.store.review import AuditRow, DecisionRow, ReviewQueueRow, decided_pairs, save_setting
from worker.store.submissions import lock_submission, replace_proposals
from worker.wiring import make_matcher

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
HEADER = (
    "parcel_id,commune_code,map_sheet_number,parcel_number,address,area_m2,land_use_code,certificate_serial,"
    "registry_number,owner_name,owner_birth_year,owner_id_number,owner_address\n"
)
TTL = timedelta(minutes=15)


def _registry(url: str, tmp_path: Path) -> Engine:
    path = tmp_path / "reg.csv"
    path.write_text(
        HEADER
        + 'P1,19789,10,101,"5 Lê Lợi, Phường Vĩnh Ninh, TP. Huế",100,ODT,CS 100001,CS00001,Hoàng Văn Ước,1970,046070123456,\n'
        + 'P2,19792,22,202,"9 Bà Triệu, Phường Phú Hội, TP. Huế",200,ODT,CS 100002,CS00002,Trần Thị Lan,1975,046175000001,\n',
        encoding="utf-8",
    )
    engine = open_database(url)
    import_csv(path, engine)
    return engine


def _card_only() -> list[Document]:
    fields = {
        "id_number": FieldValue(value="046070123456", confidence=0.99),
        "full_name": FieldValue(value="HOÀNG VĂN ƯỚC", confidence=0.99),
        "date_of_birth": FieldValue(value="1970-03-02", confidence=0.99),
    }
    return [Document(source="card.jpg", sha256="0" * 64, doc_type="cccd_front", fields=fields)]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_bands_follow_the_thresholds_an_admin_saved(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    engine = _registry(url, tmp_path)
    matcher = make_matcher(SETTINGS, engine)
    assert matcher.thresholds() == (SETTINGS.auto_accept_threshold, SETTINGS.review_threshold)
    best = matcher.propose(_card_only())[0]
    assert best.parcel_id == "P1"
    assert best.band == "auto_accept" and best.confidence < 1.0
    # an admin raises both bars above anything the model says: nothing is auto-accepted or sent to review
    with session_scope(engine) as s:
        save_setting(s, "auto_accept_threshold", 1.0, "admin")
        save_setting(s, "review_threshold", 1.0, "admin")
    matcher.refresh()  # (running workers pick it up within THRESHOLDS_TTL_S)
    again = matcher.propose(_card_only())[0]
    assert again.confidence == best.confidence
    assert again.band == "unlikely"
    with session_scope(engine) as s:
        save_setting(s, "auto_accept_threshold", 1.0, "admin")
        save_setting(s, "review_threshold", 0.5, "admin")
    matcher.refresh()
    assert matcher.propose(_card_only())[0].band == "review"
    engine.dispose()


def _decided(engine: Engine, sid: str, parcel: str) -> int:
    with session_scope(engine) as s:
        user = create_user(s, f"rev-{sid}", "reviewer", "correct horse battery staple 1")
        lock_submission(s, sid)
        replace_proposals(
            s,
            sid,
            [
                Proposal(parcel_id=parcel, owner_id=f"{parcel}:1", confidence=0.8, band="review", model_version="m1"),
                Proposal(parcel_id="P9", confidence=0.1, band="unlikely", model_version="m1"),
            ],
        )
        row = decide(s, user, sid, "accept", TTL, rank=1)
        return row.id


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rematch_of_a_decided_submission_keeps_or_reopens(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    engine = open_database(url)
    decision_id = _decided(engine, "HS-1", "P1")
    # the same parcel comes out on top again (a second page arrived, more confident): the decision stands
    with session_scope(engine) as s:
        sub = store_proposals(
            s, "HS-1", [Proposal(parcel_id="P1", owner_id="P1:1", confidence=0.99, band="auto_accept")]
        )
        assert sub.review_status == "decided"
    with session_scope(engine) as s:
        assert s.get(DecisionRow, decision_id).undone_at is None  # type: ignore[union-attr]
        kept = s.scalars(select(AuditRow).where(AuditRow.action == "rematch_kept")).one()
        assert kept.detail["new_best"]["parcel_id"] == "P1" and kept.decision_id == decision_id
    assert [p.parcel_id for p in decided_pairs(engine) if p.accepted] == ["P1"]
    # now another parcel is the best proposal: the item is reopened for review, with the reason recorded
    with session_scope(engine) as s:
        sub = store_proposals(
            s,
            "HS-1",
            [
                Proposal(parcel_id="P2", owner_id="P2:1", confidence=0.97, band="auto_accept"),
                Proposal(parcel_id="P1", owner_id="P1:1", confidence=0.02, band="unlikely"),
            ],
        )
        assert sub.review_status == "pending"
    with session_scope(engine) as s:
        old = s.get(DecisionRow, decision_id)
        assert old is not None and old.undone_at is not None and old.undone_by is None
        assert s.get(SubmissionRow, "HS-1").review_status == "pending"  # type: ignore[union-attr]
        assert s.get(ReviewQueueRow, "HS-1").reason == "review"  # type: ignore[union-attr]
        reopened = s.scalars(select(AuditRow).where(AuditRow.action == "rematch_reopened")).one()
        assert reopened.user_name == "system"
        assert reopened.detail["decision"] == {"id": decision_id, "action": "accept", "parcel_id": "P1"}
        assert reopened.detail["new_best"]["parcel_id"] == "P2"
        assert "accept P1" in reopened.detail["note"] and "P2" in reopened.detail["note"]
    # the undone decision no longer labels anything; a fresh decision can be taken
    assert decided_pairs(engine) == []
    with session_scope(engine) as s:
        user = s.scalars(select(DecisionRow.user_id)).first()
        from worker.store.review import UserRow

        reviewer = s.get(UserRow, user)
        assert reviewer is not None
        decide(s, reviewer, "HS-1", "accept", TTL, rank=1)
    assert [p.parcel_id for p in decided_pairs(engine) if p.accepted] == ["P2"]
    engine.dispose()


def test_rematch_after_none_reopens_only_for_a_new_plausible_candidate(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    with session_scope(engine) as s:
        user = create_user(s, "rev", "reviewer", "correct horse battery staple 1")
        lock_submission(s, "HS-2")
        replace_proposals(s, "HS-2", [Proposal(parcel_id="P1", confidence=0.6, band="review")])
        decide(s, user, "HS-2", "none", TTL)
    with session_scope(engine) as s:  # the rejected candidate again, and an implausible newcomer: kept
        sub = store_proposals(
            s,
            "HS-2",
            [
                Proposal(parcel_id="P1", confidence=0.7, band="review"),
                Proposal(parcel_id="P7", confidence=0.1, band="unlikely"),
            ],
        )
        assert sub.review_status == "decided"
    with session_scope(engine) as s:  # a new plausible candidate the reviewer never saw: reopened
        sub = store_proposals(s, "HS-2", [Proposal(parcel_id="P8", confidence=0.8, band="review")])
        assert sub.review_status == "pending"
    engine.dispose()
