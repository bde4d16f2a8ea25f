"""The review app on PostgreSQL: the append-only trigger, and leases/decisions under real concurrency."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from models.document import Document, FieldValue
from models.proposal import Evidence, Proposal
from models.settings import Settings
from worker.review import create_app, decided_pairs
from worker.review import decisions as review_decisions
from worker.review import service as review_service
from worker.review.auth import create_user
from worker.review.seed import seed_submission
from worker.store.db import session_scope
from worker.store.results import utcnow
from worker.store.review import DecisionRow, ReviewLeaseRow, UserRow
from worker.store.review import sync_queue as store_sync_queue

pytestmark = pytest.mark.postgres
PASSWORD = "mật khẩu thử nghiệm"
TTL = timedelta(minutes=15)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.review import auth

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(auth, "_hasher", cheap)
    monkeypatch.setattr(auth, "_DUMMY_HASH", cheap.hash("dummy"))  # unknown names: at the users' cost too


def _proposal(parcel_id: str, confidence: float) -> Proposal:
    return Proposal(
        parcel_id=parcel_id,
        confidence=confidence,
        band="review",
        owner_id=f"{parcel_id}-1",
        model_version="m-pg",
        evidence=[
            Evidence(
                field="owner_name",
                scanned="NGUYỄN VĂN AN",
                record="Nguyen Van An",
                agreement="exact_no_diacritics",
                weight=4,
            )
        ],
    )


@pytest.fixture
def pg(tmp_path: Path, postgres_url: str) -> Iterator[dict[str, Any]]:
    settings = Settings(data_dir=tmp_path, database_url=postgres_url, session_secret="p" * 48, audit_sample_rate=0.0)
    app = create_app(settings)
    engine = app.state.engine
    with session_scope(engine) as s:
        users = [create_user(s, f"rev{i}", "reviewer", PASSWORD).id for i in range(8)]
        create_user(s, "boss", "admin", PASSWORD)
        now = utcnow()
        for i in range(12):
            doc = Document(
                source=f"S{i:03d}/cccd.jpg",
                sha256=f"{i:064d}",
                doc_type="cccd_front",
                fields={"full_name": FieldValue(value="NGUYỄN VĂN AN", confidence=0.9)},
            )
            seed_submission(
                s,
                f"S{i:03d}",
                [doc],
                [_proposal(f"TD{i:04d}", 0.7), _proposal(f"TD9{i:03d}", 0.4)],
                commune_code="19789",
                created_at=now - timedelta(minutes=100 - i),
            )
        assert store_sync_queue(s, 0.0) == 12
    yield {"app": app, "engine": engine, "users": users}
    engine.dispose()


def test_audit_log_is_append_only_in_postgres(pg: dict[str, Any]) -> None:
    engine = pg["engine"]
    with session_scope(engine) as s:
        triggers = set(s.scalars(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass")))
        assert {"audit_log_no_change", "audit_log_no_truncate"} <= triggers
    with session_scope(engine) as s:
        user = s.scalar(select(UserRow).where(UserRow.name == "rev0"))
        review_decisions.decide(s, user, "S000", "accept", TTL)  # type: ignore[arg-type]
    for stmt in ("UPDATE audit_log SET user_name = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), session_scope(engine) as s:
            s.execute(text(stmt))
    with session_scope(engine) as s:
        assert list(s.scalars(text("SELECT action FROM audit_log"))) == ["accept"]


def _concurrently(n: int, fn: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_eight_reviewers_taking_next_at_once_get_eight_different_items(pg: dict[str, Any]) -> None:
    engine = pg["engine"]

    def take(i: int) -> str | None:
        with Session(engine) as s:
            user = s.get(UserRow, pg["users"][i])
            sid = review_service.take_next(s, user, review_service.QueueFilter(), TTL)  # type: ignore[arg-type]
            s.commit()
            return sid

    for _round in range(2):
        taken = _concurrently(8, take)
        assert None not in taken and len(set(taken)) == 8, taken
        with session_scope(engine) as s:
            leases = s.scalars(select(ReviewLeaseRow)).all()
            assert len(leases) == 8 and {lease.submission_id for lease in leases} == set(taken)
    # 12 items, 8 reviewers each holding one: 4 left waiting
    with session_scope(engine) as s:
        assert review_service.queue_counts(s)["waiting"] == 4


def test_double_submitted_decision_is_recorded_once(pg: dict[str, Any]) -> None:
    engine = pg["engine"]
    uid = pg["users"][0]

    def decide(_i: int) -> str:
        with Session(engine) as s:
            user = s.get(UserRow, uid)
            try:
                review_decisions.decide(s, user, "S005", "accept", TTL)  # type: ignore[arg-type]
                s.commit()
                return "ok"
            except review_service.ReviewError as exc:
                s.rollback()
                return exc.key

    outcomes = sorted(_concurrently(4, decide))
    assert outcomes == ["already_decided"] * 3 + ["ok"]
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(DecisionRow)) == 1


def test_api_flow_on_postgres(pg: dict[str, Any]) -> None:
    app = pg["app"]

    def client(name: str) -> TestClient:
        c = TestClient(app)
        token = c.get("/api/session").json()["csrf_token"]
        r = c.post("/api/session", json={"name": name, "password": PASSWORD}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    a, b = client("rev0"), client("rev1")
    first = a.post("/api/queue/next", json={}).json()["submission_id"]
    second = b.post("/api/queue/next", json={}).json()["submission_id"]
    assert (first, second) == ("S000", "S001")
    assert a.post(f"/api/items/{first}/decisions", json={"action": "accept", "rank": 2}).status_code == 200
    assert a.post("/api/undo").status_code == 200
    assert a.post(f"/api/items/{first}/decisions", json={"action": "accept"}).status_code == 200
    assert b.post(f"/api/items/{second}/decisions", json={"action": "none"}).status_code == 200
    rows = client("boss").post("/api/export", params={"format": "json"}).json()
    assert [(r["submission_id"], r["parcel_id"], r["change"]) for r in rows] == [("S000", "TD0000", "confirm")]
    pairs = sorted((p.submission_id, p.parcel_id, p.accepted) for p in decided_pairs(pg["engine"]))
    assert pairs == [
        ("S000", "TD0000", True),
        ("S000", "TD9000", False),
        ("S001", "TD0001", False),
        ("S001", "TD9001", False),
    ]
