"""Review app API tests: every route, role refusals, CSRF failures, queue/lease/decision/undo/export/upload.

Most tests run on SQLite with synthetic rows (fast); `real_scan` reads a generated ID card with the real
pipeline once per module so the item page is exercised on real OCR output, boxes and images. PostgreSQL
specifics (trigger, concurrent leases) are in test_review_postgres.py."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from review_env import PASSWORD, TEMPLATES, Env, card, make_env, proposal
from sqlalchemy import select, text, update
from sqlalchemy.exc import DatabaseError

from models.document import Document
from models.settings import Settings
from worker.review import decided_pairs, get_thresholds, i18n
from worker.review.diff import char_diff
from worker.review.seed import seed_submission, toy_proposals
from worker.store.db import make_engine, session_scope
from worker.store.results import SubmissionRow, utcnow
from worker.store.review import AuditRow, DecisionRow, ReviewLeaseRow, UserRow, audit_sampled
from worker.store.submissions import record_object

pytestmark = pytest.mark.usefixtures("cheap_argon2")

# --- route table: every route, its minimum role ---------------------------------------------------------

ANON = "anon"
ROUTE_ROLES: dict[tuple[str, str], str] = {
    ("GET", "/login"): ANON,
    ("POST", "/login"): ANON,
    ("GET", "/lang/{code}"): ANON,
    ("GET", "/healthz"): ANON,
    ("GET", "/metrics"): ANON,
    ("GET", "/api/session"): ANON,
    ("POST", "/api/session"): ANON,
    ("GET", "/"): "clerk",
    ("POST", "/logout"): "clerk",
    ("GET", "/upload"): "clerk",
    ("POST", "/upload"): "clerk",
    ("GET", "/jobs"): "clerk",
    ("DELETE", "/api/session"): "clerk",
    ("GET", "/api/me"): "clerk",
    ("GET", "/api/uploads"): "clerk",
    ("POST", "/api/uploads"): "clerk",
    ("GET", "/api/openapi.json"): "clerk",
    ("GET", "/api/docs"): "clerk",
    ("GET", "/api/docs/assets/{name}"): "clerk",
    ("GET", "/queue"): "reviewer",
    ("POST", "/queue/next"): "reviewer",
    ("GET", "/items/{submission_id}"): "reviewer",
    ("GET", "/items/{submission_id}/documents/{document_id}/image"): "reviewer",
    ("POST", "/items/{submission_id}/take"): "reviewer",
    ("POST", "/items/{submission_id}/release"): "reviewer",
    ("POST", "/items/{submission_id}/decide"): "reviewer",
    ("POST", "/items/{submission_id}/correct"): "reviewer",
    ("POST", "/items/{submission_id}/note"): "reviewer",
    ("GET", "/items/{submission_id}/previous"): "reviewer",
    ("POST", "/undo"): "reviewer",
    ("GET", "/audit"): "reviewer",
    ("POST", "/items/{submission_id}/candidates"): "reviewer",
    ("GET", "/exceptions"): "reviewer",
    ("GET", "/search"): "reviewer",
    ("GET", "/parcels/{parcel_id}"): "reviewer",
    ("GET", "/second-review"): "reviewer",
    ("POST", "/second-review/next"): "reviewer",
    ("GET", "/second-review/{submission_id}"): "reviewer",
    ("POST", "/second-review/{submission_id}"): "reviewer",
    ("GET", "/api/exceptions"): "reviewer",
    ("POST", "/api/exceptions/next"): "reviewer",
    ("GET", "/api/search"): "reviewer",
    ("POST", "/api/items/{submission_id}/candidates"): "reviewer",
    ("GET", "/api/second-review"): "reviewer",
    ("POST", "/api/second-review/{submission_id}"): "reviewer",
    ("GET", "/api/queue"): "reviewer",
    ("POST", "/api/queue/next"): "reviewer",
    ("GET", "/api/items/{submission_id}"): "reviewer",
    ("POST", "/api/items/{submission_id}/lease"): "reviewer",
    ("DELETE", "/api/items/{submission_id}/lease"): "reviewer",
    ("POST", "/api/items/{submission_id}/decisions"): "reviewer",
    ("POST", "/api/items/{submission_id}/corrections"): "reviewer",
    ("POST", "/api/items/{submission_id}/notes"): "reviewer",
    ("GET", "/api/items/{submission_id}/history"): "reviewer",
    ("POST", "/api/undo"): "reviewer",
    ("GET", "/api/audit"): "reviewer",
    ("GET", "/export"): "admin",
    ("POST", "/export/download"): "admin",
    ("POST", "/export/send"): "admin",
    ("POST", "/items/{submission_id}/reopen"): "admin",
    ("POST", "/api/items/{submission_id}/reopen"): "admin",
    ("POST", "/api/export/send"): "admin",
    ("GET", "/admin/users"): "admin",
    ("POST", "/admin/users"): "admin",
    ("POST", "/admin/users/{user_id}"): "admin",
    ("GET", "/admin/settings"): "admin",
    ("POST", "/admin/settings"): "admin",
    ("POST", "/api/export"): "admin",
    ("GET", "/api/calibration"): "admin",
    ("GET", "/api/users"): "admin",
    ("POST", "/api/users"): "admin",
    ("PATCH", "/api/users/{user_id}"): "admin",
    ("GET", "/api/settings"): "admin",
    ("PUT", "/api/settings"): "admin",
}
BELOW = {"clerk": None, "reviewer": "clerk", "admin": "rev"}
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def app_routes(app: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(routes: Any) -> None:
        for r in routes:
            if isinstance(r, APIRoute):
                found.update((m, r.path) for m in r.methods if m != "HEAD")
            elif hasattr(r, "original_router"):  # FastAPI keeps included routers nested
                walk(r.original_router.routes)
            elif hasattr(r, "routes") and not getattr(r, "path", "").startswith("/static"):
                walk(r.routes)

    walk(app.routes)
    return found


def concrete(path: str, env: Env) -> str:
    return (
        path.replace("{submission_id}", "S-REV-1")
        .replace("{document_id}", "1")
        .replace("{user_id}", str(env.users["clerk"]))
        .replace("{code}", "en")
        .replace("{parcel_id}", "TD0001")
        .replace("{name}", "swagger-ui.css")
    )


def call(c: TestClient, method: str, path: str, **kw: Any) -> Any:
    if path.startswith("/api/") or method == "GET":
        return c.request(method, path, **kw)
    return c.request(method, path, data=kw.pop("data", {"x": "1"}), **kw)  # a form post, like a browser


def test_route_table_covers_every_route(env: Env) -> None:
    # a new route must be classified here, so the refusal tests below cannot silently miss it
    assert app_routes(env.app) == set(ROUTE_ROLES)


@pytest.mark.parametrize("method,path", sorted(k for k, v in ROUTE_ROLES.items() if v != ANON))
def test_anonymous_is_refused(shared: Any, method: str, path: str) -> None:
    env, clients = shared
    c = clients[None]  # has a valid CSRF token, no login: the refusal must come from authentication
    r = call(c, method, concrete(path, env))
    if path.startswith("/api/"):
        assert r.status_code == 401
        assert r.json() == {"error": "not_authenticated"}
    else:
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("method,path", sorted(k for k, v in ROUTE_ROLES.items() if v in ("reviewer", "admin")))
def test_lower_role_is_refused(shared: Any, method: str, path: str) -> None:
    env, clients = shared
    c = clients[BELOW[ROUTE_ROLES[(method, path)]]]
    r = call(c, method, concrete(path, env))
    assert r.status_code == 403
    if path.startswith("/api/"):
        assert r.json()["error"] == "forbidden"
    else:
        assert i18n.MESSAGES["vi"]["forbidden"] in r.text


@pytest.mark.parametrize("method,path", sorted(k for k in ROUTE_ROLES if k[0] in STATE_CHANGING))
def test_state_change_without_csrf_token_is_refused(shared: Any, method: str, path: str) -> None:
    env, clients = shared
    c = clients["boss"]
    token = c.headers["X-CSRF-Token"]
    del c.headers["X-CSRF-Token"]
    try:
        r = call(c, method, concrete(path, env))
    finally:
        c.headers["X-CSRF-Token"] = token
    assert r.status_code == 403
    if path.startswith("/api/"):
        assert r.json() == {"error": "csrf_failed"}
    else:
        assert i18n.MESSAGES["vi"]["csrf_failed"] in r.text
    # a wrong token, and another session's token, fail the same way
    for wrong in ("forged", clients["rev"].headers["X-CSRF-Token"]):
        r = call(c, method, concrete(path, env), headers={"X-CSRF-Token": wrong})
        assert r.status_code == 403


def test_refusals_changed_nothing(shared: Any) -> None:
    env, clients = shared
    with session_scope(env.engine) as s:
        assert s.scalars(select(DecisionRow)).all() == []
        assert s.scalar(select(text("count(*)")).select_from(text("uploads"))) == 0
        assert {u.name: (u.role, u.active) for u in s.scalars(select(UserRow))} == {
            "clerk": ("clerk", True),
            "rev": ("reviewer", True),
            "rev2": ("reviewer", True),
            "boss": ("admin", True),
        }
        assert s.scalars(select(ReviewLeaseRow)).all() == []
    assert clients["boss"].get("/api/me").status_code == 200  # nobody got logged out by a refused request


def test_refused_decision_changes_nothing(env: Env) -> None:
    c = env.client("rev")
    del c.headers["X-CSRF-Token"]
    assert c.post("/api/items/S-REV-1/decisions", json={"action": "accept"}).status_code == 403
    with session_scope(env.engine) as s:
        assert s.scalars(select(DecisionRow)).all() == []
        assert s.get(SubmissionRow, "S-REV-1").review_status == "pending"  # type: ignore[union-attr]


# --- accounts ---------------------------------------------------------------------------------------------


def test_login_page_form_with_csrf_and_logout(env: Env) -> None:
    c = TestClient(env.app, follow_redirects=False)
    page = c.get("/login")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    bad = c.post("/login", data={"name": "rev", "password": "wrong password", "csrf_token": token})
    assert bad.status_code == 401
    assert i18n.MESSAGES["vi"]["login_failed"] in bad.text
    ok = c.post("/login", data={"name": "rev", "password": PASSWORD, "csrf_token": token, "next": "/queue"})
    assert ok.status_code == 303 and ok.headers["location"] == "/queue"
    # the session cookie is HttpOnly and SameSite; the token changed at login (a pre-login token is useless)
    cookie = ok.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    queue = c.get("/queue")
    assert queue.status_code == 200
    new_token = re.search(r'name="csrf_token" value="([^"]+)"', queue.text).group(1)  # type: ignore[union-attr]
    assert new_token != token
    assert c.post("/logout", data={"csrf_token": token}).status_code == 403
    stolen = dict(c.cookies)
    assert c.post("/logout", data={"csrf_token": new_token}).headers["location"] == "/login"
    assert c.get("/queue").status_code == 303
    # a copy of the cookie taken before logging out no longer opens anything
    assert TestClient(env.app, cookies=stolen).get("/api/me").status_code == 401


def test_login_rejects_open_redirect(env: Env) -> None:
    c = env.client()
    token = c.headers["X-CSRF-Token"]
    r = c.post("/login", data={"name": "rev", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_secure_cookie_setting(tmp_path: Path, sqlite_url: str, template_db: Path) -> None:
    e = make_env(tmp_path, sqlite_url, template=template_db, secure_cookies=True)
    c = TestClient(e.app, base_url="https://testserver")
    token = c.get("/api/session").json()["csrf_token"]
    resp = c.post("/api/session", json={"name": "rev", "password": PASSWORD}, headers={"X-CSRF-Token": token})
    assert resp.status_code == 200 and "secure" in resp.headers["set-cookie"].lower()
    assert c.get("/api/me").json()["name"] == "rev"


def test_password_hashes_are_argon2_and_login_is_throttled(env: Env) -> None:
    with session_scope(env.engine) as s:
        user = s.scalar(select(UserRow).where(UserRow.name == "rev"))
        assert user is not None and user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    c = env.client()
    codes = [c.post("/api/session", json={"name": "rev2", "password": "nope nope nope"}).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    # a throttled name does not lock out the others
    assert c.post("/api/session", json={"name": "rev", "password": PASSWORD}).status_code == 200
    with session_scope(env.engine) as s:
        failed = s.scalars(select(AuditRow).where(AuditRow.action == "login_failed")).all()
        assert len(failed) == 5


def test_deactivating_a_user_ends_their_sessions(env: Env) -> None:
    rev = env.client("rev")
    assert rev.get("/api/me").json()["name"] == "rev"
    boss = env.client("boss")
    r = boss.patch(f"/api/users/{env.users['rev']}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] == {"old": True, "new": False}
    assert rev.get("/api/me").status_code == 401
    assert env.client().post("/api/session", json={"name": "rev", "password": PASSWORD}).status_code == 401


def test_admin_manages_users_through_pages(env: Env) -> None:
    boss = env.client("boss")
    token = boss.headers.pop("X-CSRF-Token")
    form = {"name": "nhung", "role": "reviewer", "password": "mật khẩu dài lắm", "password2": "mật khẩu dài lắm"}
    r = boss.post("/admin/users", data={**form, "csrf_token": token})
    assert r.status_code == 303
    assert (
        env.client("rev").post("/api/session", json={"name": "nhung", "password": "mật khẩu dài lắm"}).status_code
        == 200
    )
    # a name no random token on the page can contain (a CSRF token held `x2` about once in a hundred runs)
    short = boss.post(
        "/admin/users",
        data={**form, "name": "người-ngắn", "password": "short", "password2": "short", "csrf_token": token},
    )
    assert short.status_code == 303
    page = boss.get("/admin/users")
    assert i18n.MESSAGES["vi"]["password_too_short"] in page.text
    assert "người-ngắn" not in page.text
    # the last admin cannot demote themselves
    r = boss.post(f"/admin/users/{env.users['boss']}", data={"role": "reviewer", "csrf_token": token})
    assert r.status_code == 303
    assert boss.get("/api/me", headers={"X-CSRF-Token": token}).json()["role"] == "admin"
    listed = boss.get("/api/users").json()
    assert {u["name"] for u in listed} == {"clerk", "rev", "rev2", "boss", "nhung"}


def test_users_add_command(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.review.commands import users_group

    monkeypatch.setenv("INTAKE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path))
    from models.settings import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(users_group, ["add", "lan", "--role", "reviewer"], input="một mật khẩu dài\n")
        assert ok.exit_code == 0, ok.output
        dup = runner.invoke(users_group, ["add", "lan", "--role", "admin"], input="một mật khẩu dài\n")
        assert dup.exit_code != 0 and "exists" in dup.output
        short = runner.invoke(users_group, ["add", "minh", "--role", "clerk"], input="short\n")
        assert short.exit_code != 0 and "too short" in short.output
        bad_role = runner.invoke(users_group, ["add", "minh", "--role", "boss"], input="một mật khẩu dài\n")
        assert bad_role.exit_code == 2
    finally:
        get_settings.cache_clear()
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        users = s.scalars(select(UserRow)).all()
        assert [(u.name, u.role) for u in users] == [("lan", "reviewer")]
        assert s.scalar(select(AuditRow).where(AuditRow.action == "user_add")).user_name == "cli"  # type: ignore[union-attr]
    engine.dispose()


# --- queue and leases -------------------------------------------------------------------------------------


def queue_ids(c: TestClient, **params: Any) -> list[str]:
    r = c.get("/api/queue", params=params)
    assert r.status_code == 200, r.text
    return [it["submission_id"] for it in r.json()["items"]]


def test_queue_lists_review_band_oldest_first_and_filters(env: Env) -> None:
    c = env.client("rev")
    # no audit sampling in this env: the auto-accepted submission stays out of the queue
    assert queue_ids(c) == ["S-REV-3", "S-REV-1", "S-REV-2"]
    assert queue_ids(c, commune="19789") == ["S-REV-3", "S-REV-1"]
    assert queue_ids(c, doc_type="gcn_page1") == ["S-REV-3"]
    assert queue_ids(c, min_confidence=0.6) == ["S-REV-1", "S-REV-2"]
    assert queue_ids(c, max_confidence=0.6) == ["S-REV-3"]
    assert queue_ids(c, age="lt1d") == ["S-REV-2"]
    assert queue_ids(c, age="1to7d") == ["S-REV-1"]
    assert queue_ids(c, age="gt7d") == ["S-REV-3"]
    assert queue_ids(c, band="auto_accept") == []
    counts = c.get("/api/queue").json()["counts"]
    assert counts["waiting"] == 3 and counts["in_review"] == 0 and counts["band_review"] == 3
    page = c.get("/queue", params={"commune": "19789"})
    assert page.status_code == 200 and "S-REV-1" in page.text and "S-REV-2" not in page.text


def test_audit_sample_of_auto_accept(env: Env) -> None:
    e = env
    boss = e.client("boss")
    assert boss.put("/api/settings", json={"audit_sample_rate": 1.0}).status_code == 200
    c = e.client("rev")
    # the draw happens once when the submission is first seen: sampled at rate 1
    assert "S-AUTO-1" in queue_ids(c, band="auto_accept")
    item = c.get("/api/items/S-AUTO-1").json()
    assert item["reason"] == "audit_sample"
    # lowering the rate later does not un-sample it; the draw itself is deterministic per submission
    assert boss.put("/api/settings", json={"audit_sample_rate": 0.0}).status_code == 200
    assert "S-AUTO-1" in queue_ids(c, band="auto_accept")
    rate = 0.3
    drawn = sum(audit_sampled(f"S{i:05d}", rate) for i in range(4000))
    assert 0.25 < drawn / 4000 < 0.35
    assert audit_sampled("S00001", rate) == audit_sampled("S00001", rate)


def test_take_next_gives_two_reviewers_different_items(env: Env) -> None:
    a, b = env.client("rev"), env.client("rev2")
    first = a.post("/api/queue/next", json={}).json()
    second = b.post("/api/queue/next", json={}).json()
    assert first["submission_id"] == "S-REV-3" and second["submission_id"] == "S-REV-1"
    # b cannot decide a's item, nor take it
    r = b.post("/api/items/S-REV-3/decisions", json={"action": "accept"})
    assert r.status_code == 409 and r.json()["error"] == "leased_by_other"
    assert b.post("/api/items/S-REV-3/lease").status_code == 409
    counts = a.get("/api/queue").json()["counts"]
    assert counts["in_review"] == 2 and counts["waiting"] == 1
    in_review = a.get("/api/queue", params={"status": "in_review"}).json()["items"]
    assert {(it["submission_id"], it["leased_by"]) for it in in_review} == {("S-REV-3", "rev"), ("S-REV-1", "rev2")}
    # leases expire: once a's lease is past, b may take the item
    env.sql(
        update(ReviewLeaseRow)
        .where(ReviewLeaseRow.submission_id == "S-REV-3")
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    assert b.post("/api/items/S-REV-3/lease").status_code == 200
    assert a.post("/api/items/S-REV-3/decisions", json={"action": "accept"}).json()["error"] == "leased_by_other"
    # one item at a time: taking S-REV-3 released b's lease on S-REV-1
    assert a.post("/api/queue/next", json={}).json()["submission_id"] == "S-REV-1"


def test_take_next_never_hands_out_an_item_decided_meanwhile(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.review import service

    assert env.client("rev").post("/api/items/S-REV-3/decisions", json={"action": "accept"}).status_code == 200
    real = service.waiting_ids
    batches: list[list[str]] = []

    def stale(session: Any, f: Any, *, exclude: Any = (), limit: int = 20) -> list[str]:
        # fault injection: the first batch was read just before rev's decision committed
        ids = real(session, f, exclude=exclude, limit=limit)
        batches.append(["S-REV-3", *ids] if not batches else ids)
        return batches[-1]

    monkeypatch.setattr(service, "waiting_ids", stale)
    assert env.client("rev2").post("/api/queue/next", json={}).json()["submission_id"] == "S-REV-1"
    assert batches[0][0] == "S-REV-3"
    with session_scope(env.engine) as s:
        assert [(lease.submission_id, lease.user_id) for lease in s.scalars(select(ReviewLeaseRow))] == [
            ("S-REV-1", env.users["rev2"])
        ]


def test_take_next_respects_filters_and_skips(env: Env) -> None:
    c = env.client("rev")
    assert c.post("/api/queue/next", json={"commune": "19774"}).json()["submission_id"] == "S-REV-2"
    nxt = c.post("/api/queue/next", json={"skip": ["S-REV-3"]}).json()
    assert nxt["submission_id"] == "S-REV-1"
    assert c.post("/api/queue/next", json={"band": "auto_accept"}).json() == {"submission_id": None, "expires_at": None}
    # the page version: the skip form field keeps the skipped item away for this reviewer
    token = c.headers.pop("X-CSRF-Token")
    r = c.post("/queue/next", data={"csrf_token": token, "skip": "S-REV-3"})
    assert r.status_code == 303 and r.headers["location"] == "/items/S-REV-1"
    r = c.post("/queue/next", data={"csrf_token": token})
    assert r.headers["location"] == "/items/S-REV-1"


def test_release_puts_the_item_back(env: Env) -> None:
    c = env.client("rev")
    assert c.post("/api/items/S-REV-2/lease").status_code == 200
    assert c.delete("/api/items/S-REV-2/lease").status_code == 204
    assert env.client("rev2").post("/api/items/S-REV-2/lease").status_code == 200


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
    assert len(boss.post("/api/export", params={"date_from": today.isoformat()}).json()) == 5
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


# --- uploads ----------------------------------------------------------------------------------------------


def test_clerk_upload_into_inbox_and_status(env: Env, simple_scan: Any) -> None:
    c = env.client("clerk")
    scan = simple_scan("upload-1")
    files = [
        ("files", ("../../etc/sổ đỏ trang 1.png", scan, "image/png")),
        ("files", ("cccd.PDF", b"%PDF-1.4 x", "application/pdf")),
    ]
    r = c.post("/api/uploads", files=files)
    assert r.status_code == 201, r.text
    sid = r.json()["submission_id"]
    folder = env.settings.resolved_inbox_dir / sid
    assert sorted(p.name for p in folder.iterdir()) == ["cccd.pdf", "sổ đỏ trang 1.png"]
    assert (folder / "sổ đỏ trang 1.png").read_bytes() == scan
    assert not (env.settings.resolved_inbox_dir.parent / ".upload-staging" / sid).exists()
    status = c.get("/api/uploads").json()
    assert status[0]["submission_id"] == sid and status[0]["state"] == "waiting" and status[0]["uploaded_by"] == "clerk"
    # once the worker has created the submission, its status shows through
    with session_scope(env.engine) as s:
        s.add(SubmissionRow(id=sid, origin="inbox", status="processed"))
        s.flush()
        record_object(s, submission_id=sid, bucket="", key=f"{sid}/cccd.pdf", version="v", status="processed")
    assert c.get("/api/uploads").json()[0]["state"] == "processing"  # one file still to read
    with session_scope(env.engine) as s:
        record_object(s, submission_id=sid, bucket="", key=f"{sid}/sổ đỏ trang 1.png", version="v", status="processed")
    assert c.get("/api/uploads").json()[0]["state"] == "needs_attention"  # read, but nothing in the registry fits
    page = c.get("/jobs", params={"highlight": sid})
    assert page.status_code == 200 and sid in page.text
    assert (
        c.post("/api/uploads", files=[("files", ("notes.docx", b"x", "application/octet-stream"))]).json()["error"]
        == "unsupported_file"
    )
    assert c.post("/api/uploads", files=[("files", ("empty.jpg", b"", "image/jpeg"))]).json()["error"] == "empty_upload"
    assert env.client("rev").get("/upload").status_code == 200  # reviewers can upload too (roles are ordered)


def test_upload_page_form_post(env: Env, simple_scan: Any) -> None:
    c = env.client("clerk")
    token = c.headers.pop("X-CSRF-Token")
    page = c.get("/upload")
    assert 'enctype="multipart/form-data"' in page.text and 'id="dropzone"' in page.text
    r = c.post("/upload", data={"csrf_token": token}, files=[("files", ("a.png", simple_scan("p"), "image/png"))])
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs?highlight=up-")
    sid = r.headers["location"].split("=")[1]
    assert (env.settings.resolved_inbox_dir / sid / "a.png").is_file()


def test_clerk_upload_into_bucket(
    tmp_path: Path, sqlite_url: str, template_db: Path, moto_server: str, unique_name: Any, simple_scan: Any
) -> None:
    import boto3

    bucket = unique_name("review")
    boto3.client("s3").create_bucket(Bucket=bucket)
    e = make_env(tmp_path, sqlite_url, template=template_db, bucket=bucket)
    scan = simple_scan("s3")
    r = e.client("clerk").post("/api/uploads", files=[("files", ("gcn p1.png", scan, "image/png"))])
    assert r.status_code == 201, r.text
    sid = r.json()["submission_id"]
    assert r.json()["destination"] == f"s3://{bucket}/{sid}/"
    obj = boto3.client("s3").get_object(Bucket=bucket, Key=f"{sid}/gcn p1.png")
    assert obj["Body"].read() == scan
    assert not e.settings.resolved_inbox_dir.exists() or not any(e.settings.resolved_inbox_dir.iterdir())


# --- item page on a real scan -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One generated chip/2024 ID card front, read by the real pipeline (the slow part, done once)."""
    import cv2

    from fixtures.samples import generate
    from worker.pipeline import read_file
    from worker.review.seed import read_registry_csv

    out = tmp_path_factory.mktemp("samples")
    generate(out, 3, seed=5, decoy_parcels=5, degrade=False)
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    sub = next(t for t in truth if any(d["doc_type"] == "cccd_front" and d["part"] is None for d in t["documents"]))
    doc_truth = next(d for d in sub["documents"] if d["doc_type"] == "cccd_front")
    path = out / doc_truth["file"]
    result = read_file(path.read_bytes(), path.name, settings=Settings(), keep_pages=True)
    assert result.documents, result.errors
    ok, jpg = cv2.imencode(".jpg", result.pages[0].image)
    assert ok
    registry = {r["parcel_id"]: r for r in read_registry_csv(out / "parcels.csv")}
    return {
        "samples": out,
        "document": result.documents[0],
        "image": jpg.tobytes(),
        "truth": doc_truth["fields"],
        "true_row": registry.get(sub["parcel_id"]),
        "decoy_row": next(r for pid, r in registry.items() if pid != sub["parcel_id"]),
    }


def test_item_page_shows_real_scan_boxes_and_differences(env: Env, real_scan: dict[str, Any]) -> None:
    e = env
    doc: Document = real_scan["document"]
    true_row = dict(real_scan["true_row"] or real_scan["decoy_row"])
    # the registry spells the name without diacritics (a dirty registry): a diacritic-only difference
    true_row["owner_name"] = true_row["owner_name"] and re.sub(r"[^\x00-\x7f]", "?", true_row["owner_name"])
    derived = e.settings.data_dir / "derived"
    derived.mkdir(parents=True)
    (derived / "real-0.jpg").write_bytes(real_scan["image"])
    with session_scope(e.engine) as s:
        proposals = toy_proposals([doc], [true_row, real_scan["decoy_row"]], prior_weight=-2)
        seed_submission(s, "S-REAL", [doc], proposals, image_keys={0: "derived/real-0.jpg"}, commune_code="19789")
    c = e.client("rev")
    item = c.get("/api/items/S-REAL").json()
    fields = {f["name"]: f for f in item["documents"][0]["fields"]}
    # the pipeline read the printed values, and says where
    assert fields["id_number"]["value"] == real_scan["truth"]["id_number"]
    assert fields["full_name"]["value"] == real_scan["truth"]["full_name"]
    assert all(len(fields[n]["box"]) == 4 for n in ("id_number", "full_name"))
    ev = {x["field"]: x for x in item["candidates"][0]["evidence"]}
    name_diff = ev["owner_name"]
    assert not name_diff["equal"] and any(seg["kind"] != "same" for seg in name_diff["record_diff"])
    page = c.get("/items/S-REAL")
    assert page.status_code == 200
    doc_id = item["documents"][0]["id"]
    assert f'src="/items/S-REAL/documents/{doc_id}/image"' in page.text
    box = fields["full_name"]["box"]
    assert (
        f'id="b{doc_id}-0-full_name" data-field="full_name" data-owner="0" '
        f'x="{box[0]}" y="{box[1]}" width="{box[2]}" height="{box[3]}"'
    ) in page.text
    assert 'class="d-changed"' in page.text or 'class="d-missing"' in page.text
    img = c.get(f"/items/S-REAL/documents/{doc_id}/image")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert img.content == real_scan["image"]
    assert c.get(f"/items/S-REV-1/documents/{doc_id}/image").status_code == 404  # not this item's document


def test_item_shows_the_candidates_current_registry_record(env: Env, real_scan: dict[str, Any]) -> None:
    registry = pytest.importorskip("worker.store.registry")
    registry.import_csv(real_scan["samples"] / "parcels.csv", env.engine)
    row = real_scan["true_row"] or real_scan["decoy_row"]
    with session_scope(env.engine) as s:
        seed_submission(s, "S-REG", [real_scan["document"]], toy_proposals([real_scan["document"]], [row]))
    c = env.client("rev")
    record = c.get("/api/items/S-REG").json()["candidates"][0]["record"]
    assert record["parcel_id"] == row["parcel_id"]
    assert record["map_sheet_number"] == int(row["map_sheet_number"])
    assert record["owners"] and all(o["owner_id"] for o in record["owners"])
    page = c.get("/items/S-REG")
    assert i18n.MESSAGES["vi"]["registry_record"] in page.text and row["parcel_id"] in page.text


def test_image_never_served_from_outside_the_data_folders(env: Env, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8 not for you")
    with session_scope(env.engine) as s:
        seed_submission(s, "S-EVIL", [card("e.jpg", "X", "046000000002", sha="f")], [], image_keys={0: str(secret)})
        doc_id = s.scalar(select(text("id")).select_from(text("documents")).where(text("submission_id = 'S-EVIL'")))
    assert env.client("rev").get(f"/items/S-EVIL/documents/{doc_id}/image").status_code == 404


# --- presentation -----------------------------------------------------------------------------------------


def test_vietnamese_by_default_english_on_request(env: Env) -> None:
    c = env.client("rev")
    assert "Hàng chờ" in c.get("/queue").text
    r = c.get("/lang/en", params={"next": "/queue"})
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    page = c.get("/queue")
    assert "Take next item" in page.text and 'lang="en"' in page.text
    with session_scope(env.engine) as s:
        assert s.scalar(select(UserRow.lang).where(UserRow.name == "rev")) == "en"


def test_every_template_text_is_translated() -> None:
    used: set[str] = set()
    prefixed: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        src = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bt\('([a-z0-9_]+)'[,)]", src))
        prefixed |= set(re.findall(r"\bt\('([a-z0-9_]+)' ~", src))
    assert used and prefixed
    for lang in ("vi", "en"):
        missing = sorted(k for k in used if k not in i18n.MESSAGES[lang])
        assert not missing, (lang, missing)
        for prefix in prefixed:
            assert any(k.startswith(prefix) for k in i18n.MESSAGES[lang]), (lang, prefix)
    assert set(i18n.MESSAGES["vi"]) == set(i18n.MESSAGES["en"])
    for action in i18n.AUDIT_ACTIONS:
        assert f"action_{action}" in i18n.MESSAGES["vi"]


def test_security_headers_and_no_store(env: Env) -> None:
    r = env.client("rev").get("/queue")
    assert r.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    static = TestClient(env.app).get("/static/app.js")
    assert static.status_code == 200 and "keydown" in static.text  # static assets need no login


def test_openapi_is_documented_behind_login(env: Env) -> None:
    assert env.client().get("/api/openapi.json").status_code == 401
    spec = env.client("clerk").get("/api/openapi.json").json()
    paths = set(spec["paths"])
    api_paths = {
        p for (_m, p) in ROUTE_ROLES if p.startswith("/api/") and p not in ("/api/openapi.json", "/api/docs")
    } - {"/api/docs/assets/{name}"}
    assert api_paths <= paths
    assert not any(p.startswith(("/items", "/queue", "/admin")) for p in paths)  # pages stay out of the API docs
    assert "DecisionBody" in spec["components"]["schemas"]


def test_char_diff_after_normalisation() -> None:
    same = char_diff("Nguyễn  Văn Hoà", "NGUYỄN VĂN HÒA")
    assert same[2] is True  # case, spacing and tone placement are not differences
    left, right, equal = char_diff("NGUYÊN VĂN AN", "NGUYỄN VĂN AN")
    assert not equal and [s.kind for s in left] == ["same", "diacritic", "same"]
    assert "".join(s.text for s in right) == "NGUYỄN VĂN AN"
    left, right, _ = char_diff("046090012345", "191234567")  # mostly different: one block, not confetti
    assert [(s.text, s.kind) for s in left] == [("046090012345", "changed")]
    assert [(s.text, s.kind) for s in right] == [("191234567", "changed")]
    left, right, _ = char_diff("CS 123456", "CS 123465")  # a near miss shows exactly where
    assert [(s.text, s.kind) for s in left] == [("CS 12345", "same"), ("6", "missing")]
    assert [(s.text, s.kind) for s in right] == [("CS 1234", "same"), ("6", "missing"), ("5", "same")]
    left, right, _ = char_diff("TRẦN THỊ BÌNH", None)
    assert [s.kind for s in left] == ["missing"] and right == []
    _l, _r, equal = char_diff(125.0, "125")
    assert equal


def test_cli_users_add_and_review_serve(tmp_path: Path, sqlite_url: str) -> None:
    """The real commands in subprocesses: add an admin with a piped password, serve, log in over HTTP."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    env = {
        **os.environ,
        "INTAKE_DATA_DIR": str(tmp_path / "data"),
        "INTAKE_DATABASE_URL": sqlite_url,
        "INTAKE_SESSION_SECRET": "c" * 48,
    }
    added = subprocess.run(
        [sys.executable, "-m", "worker", "users", "add", "lan", "--role", "admin"],
        input="một mật khẩu dài\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "review", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "review serve did not come up"
            time.sleep(0.2)
        with httpx.Client(base_url=base) as c:
            assert c.get("/queue").status_code == 303
            token = c.get("/api/session").json()["csrf_token"]
            r = c.post(
                "/api/session", json={"name": "lan", "password": "một mật khẩu dài"}, headers={"X-CSRF-Token": token}
            )
            assert r.status_code == 200 and r.json()["user"]["role"] == "admin"
            assert "Hàng chờ" in c.get("/queue").text
    finally:
        proc.terminate()
        proc.wait(20)
