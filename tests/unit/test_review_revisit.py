"""Revisiting decisions: reject one candidate and go on to the next, an admin reopens a decided item (audited),
and a second-review sample for quality control with per-reviewer agreement figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_env import Env
from sqlalchemy import create_engine, select, text

from worker.review import i18n
from worker.review.second_review import wilson_lower
from worker.store.db import session_scope
from worker.store.migrate import alembic_config, upgrade
from worker.store.review import AuditRow, DecisionRow, ReviewQueueRow

pytestmark = pytest.mark.usefixtures("cheap_argon2")


def test_reject_moves_on_to_the_next_candidate_of_the_same_item(env: Env) -> None:
    c = env.client("rev")
    token = c.headers.pop("X-CSRF-Token")
    assert c.post("/items/S-REV-1/take", data={"csrf_token": token}).status_code == 303
    r = c.post("/items/S-REV-1/decide", data={"csrf_token": token, "action": "reject", "rank": "1"})
    assert r.status_code == 303 and r.headers["location"] == "/items/S-REV-1?c=2"
    page = c.get("/items/S-REV-1?c=2").text
    assert 'data-selected="2"' in page and 'class="cand-tab  band-unlikely' not in page
    assert 'id="decide-form"' in page  # still open, still the reviewer's
    # U takes the reject back
    assert c.post("/undo", data={"csrf_token": token}).headers["location"] == "/items/S-REV-1"
    with session_scope(env.engine) as s:
        rows = s.scalars(select(DecisionRow).where(DecisionRow.submission_id == "S-REV-1")).all()
        assert [(d.action, d.undone_at is not None) for d in rows] == [("reject", True)]


def test_admin_reopens_a_decided_item_with_a_reason(env: Env) -> None:
    rev, boss = env.client("rev"), env.client("boss")
    assert rev.post("/api/items/S-REV-1/decisions", json={"action": "accept"}).status_code == 200
    assert boss.post("/api/export/send", json={"format": "json"}).status_code == 200  # already sent to VBDLIS
    assert rev.post("/api/items/S-REV-1/reopen", json={"reason": "x"}).status_code == 403  # admins only
    assert boss.post("/api/items/S-REV-1/reopen", json={"reason": ""}).status_code == 422
    r = boss.post("/api/items/S-REV-1/reopen", json={"reason": "Chủ sử dụng khiếu nại: sai thửa"})
    assert r.status_code == 200 and r.json()["undone_at"]
    item = rev.get("/api/items/S-REV-1").json()
    assert item["review_status"] == "pending" and item["decision"] is None and item["reason"] == "reopened"
    entry = item["history"][0]
    assert entry["action"] == "reopen" and entry["user"] == "boss"
    assert entry["detail"]["note"] == "Chủ sử dụng khiếu nại: sai thửa" and entry["detail"]["already_sent"] is True
    # back in the review queue, and decided again by a reviewer
    assert "S-REV-1" in [i["submission_id"] for i in rev.get("/api/queue").json()["items"]]
    assert rev.post("/api/items/S-REV-1/decisions", json={"action": "accept", "rank": 2}).status_code == 200
    assert boss.post("/api/items/S-REV-2/reopen", json={"reason": "x"}).json()["error"] == "not_decided"
    # the page: admins see the reopen form on a decided item, reviewers do not
    assert 'id="reopen-form"' in boss.get("/items/S-REV-1").text
    assert 'id="reopen-form"' not in rev.get("/items/S-REV-1").text


def test_reopen_from_the_item_page(env: Env) -> None:
    env.client("rev").post("/api/items/S-REV-3/decisions", json={"action": "none"})
    boss = env.client("boss")
    token = boss.headers.pop("X-CSRF-Token")
    r = boss.post("/items/S-REV-3/reopen", data={"csrf_token": token, "reason": "Xem lại"})
    assert r.status_code == 303
    assert i18n.MESSAGES["vi"]["reopened"].split("{")[0] in boss.get("/items/S-REV-3").text
    with session_scope(env.engine) as s:
        assert s.get(ReviewQueueRow, "S-REV-3").reason == "reopened"  # type: ignore[union-attr]
        assert s.scalar(select(AuditRow.user_name).where(AuditRow.action == "reopen")) == "boss"


def test_second_review_blind_with_agreement_per_reviewer(env: Env) -> None:
    boss = env.client("boss")
    assert boss.put("/api/settings", json={"second_review_rate": 1.0}).status_code == 200
    rev, rev2 = env.client("rev"), env.client("rev2")
    assert rev.post("/api/items/S-REV-1/decisions", json={"action": "accept", "rank": 1}).status_code == 200
    assert rev.post("/api/items/S-REV-2/decisions", json={"action": "accept"}).status_code == 200
    assert rev.post("/api/items/S-REV-3/decisions", json={"action": "none"}).status_code == 200
    # nobody checks their own decisions
    assert rev.get("/api/second-review").json()["waiting"] == 0
    assert rev.post("/api/second-review/S-REV-1", json={"action": "accept"}).json()["error"] == "own_decision"
    assert rev2.get("/api/second-review").json()["waiting"] == 3
    token = rev2.headers["X-CSRF-Token"]
    r = rev2.post("/second-review/next", data={"csrf_token": token})
    assert r.headers["location"] == "/second-review/S-REV-1"
    blind = rev2.get("/second-review/S-REV-1").text
    # the candidates and the scans, but neither the first decision nor the history that would give it away
    assert "TD0001" in blind and 'id="second-form"' in blind
    assert "badge decided" not in blind and i18n.MESSAGES["vi"]["history"] not in blind
    assert rev2.post("/api/second-review/S-REV-1", json={"action": "accept", "parcel_id": "TD0001"}).json()["agrees"]
    assert not rev2.post("/api/second-review/S-REV-2", json={"action": "none"}).json()["agrees"]
    assert rev2.post("/api/second-review/S-REV-3", json={"action": "none"}).json()["agrees"]
    again = rev2.post("/api/second-review/S-REV-3", json={"action": "none"})
    assert again.json()["error"] == "already_second_reviewed"
    stats = {a["reviewer"]: a for a in boss.get("/api/second-review").json()["agreement"]}
    assert (stats["rev"]["decisions"], stats["rev"]["checked"], stats["rev"]["agreed"]) == (3, 3, 2)
    assert stats["rev"]["rate"] == pytest.approx(2 / 3) and stats["rev"]["lower_95"] == pytest.approx(0.2077, abs=1e-3)
    page = boss.get("/second-review").text
    assert 'data-reviewer="rev"' in page and "67%" in page and "S-REV-2" in page  # the disagreement, for an admin


def test_wilson_lower_bound() -> None:
    assert wilson_lower(0, 0) is None
    assert wilson_lower(10, 10) == pytest.approx(0.7225, abs=1e-4)
    assert wilson_lower(95, 100) == pytest.approx(0.8882, abs=1e-4)


def test_migration_reopens_items_closed_by_a_reject_alone(tmp_path: Path) -> None:
    """Before 0004 a reject closed the item; now it judges one candidate and the item stays open."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0002")  # the schema as it was, without the safety net's new tables
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, name, role, password_hash, active, session_epoch, lang, created_at) "
                          "VALUES (1, 'r', 'reviewer', 'x', 1, 0, 'vi', CURRENT_TIMESTAMP)"))  # fmt: skip
        for sid in ("OLD-REJECT", "OLD-ACCEPT"):
            conn.execute(text("INSERT INTO submissions (id, origin, bucket, prefix, status, created_at, updated_at, "
                              "review_status) VALUES (:s, 'cli', '', '', 'processed', CURRENT_TIMESTAMP, "
                              "CURRENT_TIMESTAMP, 'decided')"), {"s": sid})  # fmt: skip
        conn.execute(text("INSERT INTO decisions (submission_id, action, rank, user_id, decided_at) VALUES "
                          "('OLD-REJECT', 'reject', 1, 1, CURRENT_TIMESTAMP), "
                          "('OLD-ACCEPT', 'accept', 1, 1, CURRENT_TIMESTAMP)"))  # fmt: skip
    upgrade(url)
    with engine.connect() as conn:
        status = dict(conn.execute(text("SELECT id, review_status FROM submissions")).all())
    assert status == {"OLD-REJECT": "pending", "OLD-ACCEPT": "decided"}
    engine.dispose()
