"""Review app API tests on SQLite with synthetic rows: every route, role refusals, CSRF failures, accounts,
the queue and its leases. Decisions and settings are in test_review_decisions.py; uploads, the item page on a
real scan and presentation in test_review_pages.py; PostgreSQL specifics in test_review_postgres.py."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from review_env import PASSWORD, Env, make_env, queue_ids
from sqlalchemy import select, text, update

from worker.review import i18n
from worker.store.db import make_engine, session_scope
from worker.store.results import SubmissionRow, utcnow
from worker.store.review import AuditRow, DecisionRow, ReviewLeaseRow, UserRow, audit_sampled

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
