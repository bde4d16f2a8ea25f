"""Fixtures of the security suite (issue 18's findings F1-F10, one module per finding; `pytest -m security`).

- ``review``: a review app on its own SQLite database (``review_pg``: PostgreSQL) with two clerks, two
  reviewers and an admin, two submissions to review, real argon2id at its cheapest cost;
- ``review_server``: the same app behind a real uvicorn on a loopback port, for what an in-process client
  cannot show (a body the server must not read, parallel requests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sec_support import Review, Server, build_review, free_port

from worker.review import auth


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(auth, "_hasher", cheap)
    # an unknown name is checked against the dummy hash: made at the same cost as the users' own, as in
    # production (argon2 verifies at the cost written in the hash, not the hasher's)
    monkeypatch.setattr(auth, "_DUMMY_HASH", cheap.hash("dummy"))


@pytest.fixture
def review(tmp_path: Path, sqlite_url: str, cheap_argon2: None) -> Iterator[Review]:
    r = build_review(tmp_path, sqlite_url)
    yield r
    r.engine.dispose()


@pytest.fixture
def review_pg(tmp_path: Path, postgres_url: str, cheap_argon2: None) -> Iterator[Review]:
    r = build_review(tmp_path, postgres_url)
    yield r
    r.engine.dispose()


@pytest.fixture
def review_server(review: Review) -> Iterator[Server]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(review.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield Server("127.0.0.1", port, review)
    server.should_exit = True
    thread.join(timeout=10)
