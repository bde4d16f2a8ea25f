"""Review decisions on SQLite: accept another candidate, stale candidates, undo within the window, the page
flow, corrections and notes audited and exported, the audit log's immutability, decisions logged without
personal data, and the admin's thresholds."""

import csv
import io
import json
import logging
from datetime import timedelta

import pytest
from review_env import Env, card, proposal, queue_ids
from sqlalchemy import select, text, update
from sqlalchemy.exc import DatabaseError

from worker.review import decided_pairs, get_thresholds, i18n
from worker.review.seed import seed_submission
from worker.store.db import session_scope
from worker.store.results import utcnow
from worker.store.review import AuditRow, DecisionRow

pytestmark = pytest.mark.usefixtures("cheap_argon2")

# --- decisions, undo, audit -------------------------------------------------------------------------------


def test_accept_another_candidate_records_audit_and_blocks_second_decision(env: Env) -> None:
    c = env.client("rev")
    item = c.get("/api/items/S-REV-1").json()
    assert [cand["rank"] for cand in item["candidates"]] == [1, 2]
    second = item["candidates"][1]
    r = c.post(
        "/api/items/S-REV-1/decisions", json={"action": "accept", "rank": 2, "proposal_id": second["proposal_id"]}
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["action"], d["rank"], d["parcel_id"], d["model_version"]) == ("accept", 2, "TD0002", "m-test-1")
    again = env.client("rev2").post("/api/items/S-REV-1/decisions", json={"action": "reject"})
    assert again.status_code == 409 and again.json()["error"] == "already_decided"
    history = c.get("/api/items/S-REV-1/history").json()
    assert history[0]["action"] == "accept" and history[0]["user"] == "rev"
    assert history[0]["model_version"] == "m-test-1" and history[0]["detail"]["parcel_id"] == "TD0002"
    assert history[0]["detail"]["review_status"] == {"old": "pending", "new": "decided"}
    assert "S-REV-1" not in queue_ids(c)
    assert "S-REV-1" in queue_ids(c, status="decided")


def test_stale_candidate_is_refused(env: Env) -> None:
    c = env.client("rev")
    r = c.post("/api/items/S-REV-1/decisions", json={"action": "accept", "rank": 1, "proposal_id": 999})
    assert r.status_code == 409 and r.json()["error"] == "stale_item"
    r = c.post("/api/items/S-REV-1/decisions", json={"action": "accept", "rank": 7})
    assert r.status_code == 422 and r.json()["error"] == "no_such_candidate"
    assert c.post("/api/items/NOPE/decisions", json={"action": "none"}).status_code == 404
    assert c.post("/api/items/S-REV-1/decisions", json={"action": "maybe"}).status_code == 422


def test_undo_last_decision_within_window(env: Env) -> None:
    c = env.client("rev")
    assert c.post("/api/items/S-REV-2/decisions", json={"action": "reject"}).status_code == 200
    assert c.post("/api/items/S-REV-1/decisions", json={"action": "none", "note": "cả hai đều sai"}).status_code == 200
    r = c.post("/api/undo")
    assert r.status_code == 200 and r.json()["submission_id"] == "S-REV-1" and r.json()["undone_at"]
    item = c.get("/api/items/S-REV-1").json()
    assert item["review_status"] == "pending" and item["lease"]["held_by_me"] and item["decision"] is None
    assert [h["action"] for h in item["history"]][:2] == ["undo", "none"]
    # the next undo reaches the decision before it, but not once its window has passed
    env.sql(
        update(DecisionRow)
        .where(DecisionRow.submission_id == "S-REV-2")
        .values(decided_at=utcnow() - timedelta(hours=1))
    )
    r = c.post("/api/undo")
    assert r.status_code == 409 and r.json()["error"] == "undo_expired"
    # someone else's decision is not mine to undo
    assert env.client("rev2").post("/api/undo").json()["error"] == "nothing_to_undo"
    # decided again after undo: the calibration sees only the standing decision
    assert c.post("/api/items/S-REV-1/decisions", json={"action": "accept"}).status_code == 200
    pairs = decided_pairs(env.engine)
    assert sorted((p.submission_id, p.parcel_id, p.accepted) for p in pairs) == [
        ("S-REV-1", "TD0001", True),
        ("S-REV-1", "TD0002", False),
        ("S-REV-2", "TD0003", False),
    ]


def test_page_flow_decide_moves_on_and_undo_comes_back(env: Env) -> None:
    c = env.client("rev")
    token = c.headers.pop("X-CSRF-Token")
    r = c.post("/queue/next", data={"csrf_token": token})
    assert r.headers["location"] == "/items/S-REV-3"
    page = c.get("/items/S-REV-3")
    assert page.status_code == 200 and 'id="decide-form"' in page.text
    r = c.post("/items/S-REV-3/decide", data={"csrf_token": token, "action": "accept", "rank": "1"})
    assert r.status_code == 303 and r.headers["location"] == "/items/S-REV-1"
    nxt = c.get("/items/S-REV-1")
    assert 'id="undo-form"' in nxt.text  # the undo offer (U) is on the next item
    r = c.post("/undo", data={"csrf_token": token})
    assert r.headers["location"] == "/items/S-REV-3"
    back = c.get("/items/S-REV-3")
    assert i18n.MESSAGES["vi"]["undone"].split("{")[0] in back.text and 'id="decide-form"' in back.text
    # the item moved on to was handed back to the queue
    assert env.client("rev2").post("/api/items/S-REV-1/lease").status_code == 200
    prev = c.get("/items/S-REV-3/previous")
    assert prev.status_code == 303


def test_correction_and_note_are_audited_and_exported(env: Env) -> None:
    c = env.client("rev")
    r = c.post(
        "/api/items/S-REV-1/corrections", json={"field": "owner_name", "value": "NGUYỄN  VĂN ÁN", "owner_index": 1}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["old_value"], r.json()["new_value"]) == ("NGUYỄN VĂN AN", "NGUYỄN VĂN ÁN")
    assert c.post("/api/items/S-REV-1/corrections", json={"field": "no_such", "value": "x"}).status_code == 422
    assert (
        c.post("/api/items/S-REV-1/notes", json={"note": "Chủ cũ đã mất, người thừa kế nộp hồ sơ"}).status_code == 200
    )
    assert c.post("/api/items/S-REV-1/decisions", json={"action": "accept"}).status_code == 200
    # a correction after the decision would change what was accepted: refused
    assert (
        c.post("/api/items/S-REV-1/corrections", json={"field": "owner_name", "value": "X"}).json()["error"]
        == "already_decided"
    )
    history = [(h["action"], h["detail"]) for h in c.get("/api/items/S-REV-1/history").json()]
    assert (
        "correct",
        {
            "field": "owner_name",
            "owner_index": 1,
            "old": "NGUYỄN VĂN AN",
            "new": "NGUYỄN VĂN ÁN",
            "rank": 1,
            "parcel_id": "TD0001",
        },
    ) in history
    assert any(a == "note" and d["note"].startswith("Chủ cũ") for a, d in history)

    boss = env.client("boss")
    rows = boss.post("/api/export", params={"format": "json"}).json()
    changes = {(r["parcel_id"], r["field"]): r for r in rows}
    # the name as printed, in the registry's letter case; the reason in the office's language
    assert changes[("TD0001", "owner_name")]["new_value"] == "Nguyễn Văn Án"
    assert changes[("TD0001", "owner_name")]["old_value"] == "Nguyen Van An"
    assert changes[("TD0001", "owner_name")]["reason"] == i18n.MESSAGES["vi"]["reason_reviewer_correction"]
    assert changes[("TD0001", "owner_id_number")]["new_value"] == "046090012345"
    reviewed = [r for r in rows if r["source"] == "reviewer"]
    assert all(r["decided_by"] == "rev" and r["model_version"] == "m-test-1" for r in reviewed)


def test_export_csv_json_filters_and_confirm_rows(env: Env) -> None:
    rev = env.client("rev")
    assert rev.post("/api/items/S-REV-1/decisions", json={"action": "accept"}).status_code == 200
    assert rev.post("/api/items/S-REV-2/decisions", json={"action": "reject"}).status_code == 200
    no_change = proposal("TD0004", 0.55, "review", proposed_updates=[])
    with session_scope(env.engine) as s:
        seed_submission(s, "S-REV-4", [card("x.jpg", "A", "046000000001", sha="e")], [no_change], commune_code="19777")
    assert rev.post("/api/items/S-REV-4/decisions", json={"action": "accept"}).status_code == 200
    boss = env.client("boss")
    r = boss.post("/api/export", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark: Excel reads Vietnamese
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(x["submission_id"], x["change"], x["field"]) for x in rows] == [
        ("S-AUTO-1", "update", "owner_id_number"),  # auto-accepted an hour ago: no person had to see it
        ("S-AUTO-1", "update", "owner_name"),
        ("S-REV-1", "update", "owner_id_number"),
        ("S-REV-1", "update", "owner_name"),
        ("S-REV-4", "confirm", ""),
    ]  # the rejected candidate of S-REV-2 exports nothing
    assert rows[0]["old_value"] == "191234567" and rows[0]["new_value"] == "046090012345"
    ward = boss.post("/api/export", params={"format": "json", "commune": "19777"}).json()
    assert [x["submission_id"] for x in ward] == ["S-REV-4"]
    today = utcnow().date()
    # from the day of the oldest decision (an hour ago: yesterday when the test runs just after midnight UTC)
    since = (utcnow() - timedelta(hours=2)).date()
    assert len(boss.post("/api/export", params={"date_from": since.isoformat()}).json()) == 5
    assert boss.post("/api/export", params={"date_to": (today - timedelta(days=2)).isoformat()}).json() == []
    assert boss.post("/api/export", params={"date_from": "31/12/2025"}).status_code == 422
    page = boss.get("/export", params={"commune": "19777"})
    assert page.status_code == 200 and "S-REV-4" in page.text and "S-REV-1" not in page.text
    download = boss.post("/export/download", data={"format": "json", "commune": "19777"})
    assert json.loads(download.content) == ward
    with session_scope(env.engine) as s:
        exports = s.scalars(select(AuditRow).where(AuditRow.action == "export")).all()
        assert [e.detail["rows"] for e in exports] == [5, 1, 5, 0, 1]


def test_audit_log_refuses_update_and_delete(env: Env) -> None:
    c = env.client("rev")
    assert c.post("/api/items/S-REV-1/decisions", json={"action": "accept"}).status_code == 200
    for stmt in ("UPDATE audit_log SET user_name = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseError, match="append-only"), session_scope(env.engine) as s:
            s.execute(text(stmt))
    with session_scope(env.engine) as s:
        assert "rev" in {a.user_name for a in s.scalars(select(AuditRow))}
    page = env.client("rev").get("/audit", params={"action": "accept"})
    assert page.status_code == 200 and "S-REV-1" in page.text
    assert [a["action"] for a in c.get("/api/audit", params={"who": "rev", "action": "accept"}).json()] == ["accept"]


def test_decisions_are_logged_without_personal_data(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = env.client("rev")
    c.post("/api/items/S-REV-1/corrections", json={"field": "owner_name", "value": "NGUYỄN VĂN ÁN"})
    c.post("/api/items/S-REV-1/decisions", json={"action": "accept"})
    c.get("/items/S-REV-1")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "decision accept on submission S-REV-1" in logged
    for secret in ("046090012345", "191234567", "NGUYỄN", "Nguyen Van An"):
        assert secret not in logged


# --- settings ---------------------------------------------------------------------------------------------


def test_admin_thresholds_validated_audited_and_effective(env: Env) -> None:
    boss = env.client("boss")
    assert boss.get("/api/settings").json()["auto_accept_threshold"] == 0.95
    bad = boss.put("/api/settings", json={"review_threshold": 0.97})
    assert bad.status_code == 422 and bad.json()["error"] == "thresholds_order"
    assert boss.put("/api/settings", json={"lease_minutes": 0}).json()["error"] == "bad_setting"
    ok = boss.put("/api/settings", json={"auto_accept_threshold": 0.9, "review_threshold": 0.6, "undo_seconds": 30})
    assert ok.status_code == 200
    thr = get_thresholds(env.engine, env.settings)
    assert (thr.auto_accept_threshold, thr.review_threshold, thr.undo_seconds) == (0.9, 0.6, 30)
    token = boss.headers.pop("X-CSRF-Token")
    r = boss.post("/admin/settings", data={"csrf_token": token, "lease_minutes": "20"})
    assert r.status_code == 303 and get_thresholds(env.engine, env.settings).lease_minutes == 20
    assert 'value="20.0"' in boss.get("/admin/settings").text
    with session_scope(env.engine) as s:
        changes = [a.detail for a in s.scalars(select(AuditRow).where(AuditRow.action == "settings"))]
    assert changes[0]["review_threshold"] == {"old": 0.5, "new": 0.6} and changes[1] == {
        "lease_minutes": {"old": 15.0, "new": 20.0}
    }
