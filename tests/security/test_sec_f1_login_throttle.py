"""F1: the login throttle. One normalised name for lookup and throttle (padded or re-cased names are the same
bucket); per name and per client address; stored in the database (every app process shares it); a decaying
score with back-off, so a stranger's occasional wrong try never locks a named admin out; a parallel burst
cannot slip past it. F10's password policy is here too (accounts are made where logins are checked)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sec_support import PASSWORD, Review, Server, SlowHasher, build_review

from worker.review import auth

pytestmark = pytest.mark.security


def _login(c: object, name: str, password: str = "wrong password 1") -> int:
    return c.post("/api/session", json={"name": name, "password": password}).status_code  # type: ignore[attr-defined]


def test_padded_and_recased_names_share_one_bucket(review: Review) -> None:
    c = review.client()
    variants = ["rev2", "rev2  ", "  rev2", "REV2", "Rev2\u00a0", "rev2\t"]
    codes = [_login(c, name) for name in variants]
    assert codes == [401] * 5 + [429]
    # the same normalisation finds the account: a padded name logs in once the back-off is over
    review.app.state.throttle.clock = lambda: 10**10
    assert _login(c, "  REV2 ", PASSWORD) == 200


def test_two_app_processes_share_the_throttle(review: Review, tmp_path: Path, sqlite_url: str) -> None:
    other = build_review(tmp_path / "second", sqlite_url, seed=False)
    a, b = review.client(), other.client()
    assert [_login(a, "rev") for _ in range(5)] == [401] * 5
    assert _login(b, "rev") == 429
    other.engine.dispose()


def test_a_stranger_trying_every_five_minutes_never_locks_the_admin_out(review: Review) -> None:
    now = [1_000_000.0]
    review.app.state.throttle.clock = lambda: now[0]
    c = review.client()
    for _ in range(12):  # an hour of one wrong try every 5 minutes
        assert _login(c, "boss") == 401
        now[0] += 300
    assert _login(c, "boss", PASSWORD) == 200


def test_a_fast_guesser_backs_off_exponentially(review: Review) -> None:
    now = [1_000_000.0]
    review.app.state.throttle.clock = lambda: now[0]
    c = review.client()
    waits = []
    for _ in range(5):
        assert _login(c, "rev") == 401
    for _ in range(4):
        r = c.post("/api/session", json={"name": "rev", "password": "wrong password 1"})
        assert r.status_code == 429
        waits.append(int(r.headers["Retry-After"]))
        now[0] += waits[-1]
        assert _login(c, "rev") == 401  # allowed once the wait is over, and charged
    assert waits == sorted(waits) and waits[-1] >= 4 * waits[0]


def test_one_address_spraying_many_names_is_throttled(review: Review) -> None:
    c = review.client()
    codes = [_login(c, f"nobody{i}") for i in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429
    # another address is not held back by it
    assert _login(review.client(client=("203.0.113.7", 50000)), "rev", PASSWORD) == 200


def test_a_parallel_burst_cannot_outrun_the_throttle(review_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_hasher", SlowHasher(0.3))  # every guess overlaps the others
    with httpx.Client(base_url=review_server.url) as first:
        token = first.get("/api/session").json()["csrf_token"]
        cookies = dict(first.cookies)

    def attempt(_: int) -> int:
        with httpx.Client(base_url=review_server.url, cookies=cookies, headers={"X-CSRF-Token": token}) as c:
            return _login(c, "rev2")

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(attempt, range(16)))
    assert codes.count(401) <= 5, codes  # the password was checked at most 5 times
    assert codes.count(429) >= 11, codes


@pytest.mark.parametrize(
    "password, problem",
    [
        (" " * 12, "password_too_short"),
        ("          x", "password_too_short"),
        ("newclerk newclerk", "password_is_name"),
        ("password1234", "password_too_weak"),
        ("qwertyuiop12", "password_too_weak"),
    ],
)
def test_password_policy(review: Review, password: str, problem: str) -> None:
    boss = review.client("boss")
    r = boss.post("/api/users", json={"name": "newclerk", "role": "clerk", "password": password})
    assert r.status_code == 422 and r.json()["error"] == problem
    ok = boss.post("/api/users", json={"name": "newclerk", "role": "clerk", "password": "một mật khẩu dài"})
    assert ok.status_code == 201
    # the same name in another case or spacing is the same account
    again = boss.post("/api/users", json={"name": " NEWCLERK ", "role": "clerk", "password": "một mật khẩu dài"})
    assert again.status_code == 422
