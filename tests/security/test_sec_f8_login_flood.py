"""F8: a login flood must not run argon2 unbounded in parallel. The load numbers (200 parallel failed logins,
/healthz latency, server memory) are a benchmark: `python -m bench login-flood`. This test checks the
behaviour behind them: at most the pool's workers hash at once, an overflow is told to come back (429 with
Retry-After), and the app keeps answering other requests meanwhile."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sec_support import Server, lenient_throttle

from worker.review import auth

pytestmark = pytest.mark.security


class CountingHasher(PasswordHasher):
    """Real argon2id (cheap parameters) that records how many verifications ran at the same time."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(0.05)  # a production-cost hash takes this long; the overlap is what is measured
            return bool(super().verify(hash, password))
        finally:
            with self.lock:
                self.running -= 1


def test_parallel_logins_hash_a_bounded_number_at_a_time(
    review_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = CountingHasher()
    monkeypatch.setattr(auth, "_hasher", hasher)
    monkeypatch.setattr(auth, "_DUMMY_HASH", hasher.hash("dummy"))
    with suppress(ImportError):  # (the code before issue 18 had no such throttle)
        lenient_throttle(review_server.review.app)  # the pool alone limits
    with httpx.Client(base_url=review_server.url) as c:
        token = c.get("/api/session").json()["csrf_token"]
        cookies = dict(c.cookies)

    def attempt(i: int) -> Any:
        headers = {"X-CSRF-Token": token}
        with httpx.Client(base_url=review_server.url, cookies=cookies, headers=headers, timeout=60) as c:
            return c.post("/api/session", json={"name": f"user{i}", "password": "wrong password 1"})

    health: list[int] = []
    with ThreadPoolExecutor(64) as pool:
        futures = [pool.submit(attempt, i) for i in range(60)]
        with httpx.Client(base_url=review_server.url) as c:
            while not all(f.done() for f in futures):
                health.append(c.get("/healthz").status_code)
        responses = [f.result() for f in futures]
    codes = [r.status_code for r in responses]
    assert hasher.peak <= getattr(getattr(auth, "_pool", None), "workers", 1), hasher.peak
    assert set(codes) <= {401, 429} and codes.count(401) == hasher.calls
    busy = [r for r in responses if r.status_code == 429]
    assert all(r.json()["error"] == "login_busy" and r.headers["Retry-After"] for r in busy), [
        (r.json(), dict(r.headers)) for r in busy
    ][:2]
    assert health and set(health) == {200}
