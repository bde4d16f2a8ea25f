"""Helpers of the security suite, shared by its modules and its conftest."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from models.document import Document, FieldValue
from models.proposal import Evidence, Proposal
from models.settings import Settings
from worker.review import create_app
from worker.review.seed import seed_submission
from worker.store.db import session_scope

PASSWORD = "correct horse battery"
USERS = (("clerk", "clerk"), ("clerk2", "clerk"), ("rev", "reviewer"), ("rev2", "reviewer"), ("boss", "admin"))


@dataclass
class Review:
    app: Any
    settings: Settings
    engine: Any

    def client(self, name: str | None = None, **kw: Any) -> TestClient:
        """A client with a CSRF token, logged in as `name` when given."""
        c = TestClient(self.app, follow_redirects=False, **kw)
        c.headers["X-CSRF-Token"] = c.get("/api/session").json()["csrf_token"]
        if name is not None:
            r = c.post("/api/session", json={"name": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c


def _card(source: str, name: str, id_number: str, sha: str) -> Document:
    return Document(
        source=source,
        sha256=sha * 64,
        doc_type="cccd_front",
        doc_type_confidence=0.97,
        fields={
            "id_number": FieldValue(value=id_number, confidence=0.98, sources=["ocr"]),
            "full_name": FieldValue(value=name, confidence=0.9, sources=["ocr"]),
        },
    )


def build_review(tmp_path: Path, url: str, *, seed: bool = True, **settings_kw: Any) -> Review:
    from worker.review.auth import create_user

    settings = Settings(
        data_dir=tmp_path / "data", database_url=url, session_secret="s" * 48, audit_sample_rate=0.0, **settings_kw
    )
    app = create_app(settings)
    engine = app.state.engine
    if not seed:
        return Review(app=app, settings=settings, engine=engine)
    with session_scope(engine) as s:
        for name, role in USERS:
            create_user(s, name, role, PASSWORD)
        for sid, name, number, sha in (
            ("S-1", "NGUYỄN VĂN AN", "046090012345", "a"),
            ("S-2", "LÊ THỊ BA", "046190054321", "b"),
        ):
            evidence = [Evidence(field="owner_id_number", scanned=number, record=number, agreement="exact", weight=9.0)]
            seed_submission(
                s,
                sid,
                [_card(f"{sid}/cccd.jpg", name, number, sha)],
                [Proposal(parcel_id=f"P-{sid}", confidence=0.8, band="review", evidence=evidence)],
            )
    return Review(app=app, settings=settings, engine=engine)


@dataclass
class Server:
    host: str
    port: int
    review: Review

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lenient_throttle(app: Any) -> None:
    """Take the login throttle out of a test that floods logins on purpose (the pool, not the throttle, is
    what it measures; the sweep must not throttle its own admin)."""
    from worker.store.logins import ThrottleRule

    lenient = ThrottleRule(free_attempts=10**6, base_delay_s=0, max_delay_s=0, decay_s=1)
    app.state.throttle.rules = {"name": lenient, "addr": lenient}


class SlowHasher(PasswordHasher):
    """Real argon2id at its cheapest, each check taking `seconds` as a production-cost hash does: parallel
    logins then really overlap."""

    def __init__(self, seconds: float = 0.2) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.seconds = seconds

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        time.sleep(self.seconds)
        return bool(super().verify(hash, password))
