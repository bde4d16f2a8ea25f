"""The review app on its own database, for the review tests: synthetic submissions (ID cards with
candidates in the review and auto-accept bands), four users (clerk, two reviewers, an admin), and clients
logged in through the JSON API with their CSRF token. The schema is built and seeded once per module and
copied for each test."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import pytest
from fastapi.testclient import TestClient

from models.document import Document, FieldValue
from models.proposal import Evidence, Proposal, ProposedUpdate
from models.settings import Settings
from worker.ocr import Reader
from worker.pipeline import read_file
from worker.review import create_app
from worker.review.auth import create_user
from worker.review.seed import seed_submission
from worker.store.db import session_scope
from worker.store.results import utcnow

PASSWORD = "correct horse battery"
TEMPLATES = Path(__file__).resolve().parents[1] / "worker" / "review" / "templates"


# --- data -------------------------------------------------------------------------------------------------


def queue_ids(c: TestClient, **params: Any) -> list[str]:
    r = c.get("/api/queue", params=params)
    assert r.status_code == 200, r.text
    return [it["submission_id"] for it in r.json()["items"]]


def card(source: str, name: str, id_number: str, dob: str = "1990-03-15", sha: str = "a") -> Document:
    return Document(
        source=source,
        sha256=(sha * 64)[:64],
        doc_type="cccd_front",
        doc_type_confidence=0.97,
        fields={
            "id_number": FieldValue(value=id_number, confidence=0.98, box=[290, 230, 270, 28], sources=["ocr"]),
            "full_name": FieldValue(value=name, confidence=0.9, box=[290, 310, 240, 34], sources=["ocr"]),
            "date_of_birth": FieldValue(value=dob, confidence=0.95, box=[630, 358, 155, 21], sources=["ocr"]),
        },
    )


def proposal(parcel_id: str, confidence: float, band: str, **kw: Any) -> Proposal:
    evidence = kw.pop(
        "evidence",
        [
            Evidence(
                field="owner_name",
                scanned="NGUYỄN VĂN AN",
                record="Nguyen Van An",
                agreement="exact_no_diacritics",
                weight=4.0,
            ),
            Evidence(
                field="owner_id_number", scanned="046090012345", record="191234567", agreement="missing", weight=0.0
            ),
            Evidence(field="owner_birth_year", scanned=1990, record=1990, agreement="exact", weight=3.0),
        ],
    )
    updates = kw.pop(
        "proposed_updates",
        [
            ProposedUpdate(
                field="owner_name", record_value="Nguyen Van An", scanned_value="NGUYỄN VĂN AN", owner_index=1
            ),
            ProposedUpdate(
                field="owner_id_number", record_value="191234567", scanned_value="046090012345", owner_index=1
            ),
        ],
    )
    return Proposal(
        parcel_id=parcel_id,
        confidence=confidence,
        band=band,  # type: ignore[arg-type]
        evidence=evidence,
        proposed_updates=updates,
        owner_id=f"{parcel_id}-1",
        owner_name="Nguyen Van An",
        match_weight=7.0,
        model_version="m-test-1",
        **kw,
    )


@dataclass
class Env:
    app: Any
    settings: Settings
    engine: Any
    users: dict[str, int]

    def client(self, name: str | None = None) -> TestClient:
        c = TestClient(self.app, follow_redirects=False)
        token = c.get("/api/session").json()["csrf_token"]
        c.headers["X-CSRF-Token"] = token
        if name is not None:
            r = c.post("/api/session", json={"name": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    def sql(self, stmt: Any) -> None:
        with session_scope(self.engine) as s:
            s.execute(stmt)


def make_env(tmp_path: Path, url: str, *, template: Path | None = None, **settings_kw: Any) -> Env:
    """An app on its own database. With `template` (a seeded SQLite file) the database is a copy of it:
    building the schema and seeding once per module keeps the suite fast."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=url, session_secret="s" * 48, audit_sample_rate=0.0, **settings_kw
    )
    if template is not None:
        shutil.copyfile(template, url.removeprefix("sqlite:///"))
        app = create_app(settings, create_tables=False)
        return Env(app=app, settings=settings, engine=app.state.engine, users=dict(USER_IDS))
    app = create_app(settings)
    engine = app.state.engine
    seed(engine)
    return Env(app=app, settings=settings, engine=engine, users=dict(USER_IDS))


USER_IDS = {"clerk": 1, "rev": 2, "rev2": 3, "boss": 4}


def seed(engine: Any) -> None:
    with session_scope(engine) as s:
        for name, role in (("clerk", "clerk"), ("rev", "reviewer"), ("rev2", "reviewer"), ("boss", "admin")):
            assert create_user(s, name, role, PASSWORD).id == USER_IDS[name]
        now = utcnow()
        seed_submission(
            s,
            "S-REV-1",
            [card("S-REV-1/cccd.jpg", "NGUYỄN VĂN AN", "046090012345")],
            [proposal("TD0001", 0.81, "review"), proposal("TD0002", 0.42, "unlikely")],
            commune_code="19789",
            created_at=now - timedelta(days=3),
        )
        seed_submission(
            s,
            "S-REV-2",
            [card("S-REV-2/cccd.jpg", "TRẦN THỊ BÌNH", "046190054321", sha="b")],
            [proposal("TD0003", 0.66, "review")],
            commune_code="19774",
            created_at=now - timedelta(hours=5),
        )
        seed_submission(
            s,
            "S-REV-3",
            [
                Document(
                    source="S-REV-3/gcn.jpg",
                    sha256="c" * 64,
                    doc_type="gcn_page1",
                    fields={"certificate_serial": FieldValue(value="CS 123456", confidence=0.8)},
                )
            ],
            [proposal("TD0004", 0.55, "review")],
            commune_code="19789",
            created_at=now - timedelta(days=10),
        )
        seed_submission(
            s,
            "S-AUTO-1",
            [card("S-AUTO-1/cccd.jpg", "LÊ VĂN CƯỜNG", "046085011111", sha="d")],
            [proposal("TD0005", 0.99, "auto_accept")],
            commune_code="19753",
            created_at=now - timedelta(hours=1),
        )


@pytest.fixture(scope="module")
def cheap_argon2() -> Iterator[None]:
    """Real argon2id, with the smallest cost parameters: the suite hashes and verifies hundreds of times."""
    from argon2 import PasswordHasher

    from worker.review import auth

    saved = auth._hasher, auth._DUMMY_HASH
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    # an unknown name is checked against the dummy hash, at the cost written in it: the same as the users'
    auth._DUMMY_HASH = auth._hasher.hash("dummy")
    yield
    auth._hasher, auth._DUMMY_HASH = saved


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory, cheap_argon2: None) -> Path:
    root = tmp_path_factory.mktemp("template")
    e = make_env(root, f"sqlite:///{root / 'template.db'}")
    e.engine.dispose()  # checkpoints the WAL into the file we copy
    return root / "template.db"


@pytest.fixture
def env(tmp_path: Path, sqlite_url: str, template_db: Path) -> Iterator[Env]:
    e = make_env(tmp_path, sqlite_url, template=template_db)
    yield e
    e.engine.dispose()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, template_db: Path) -> Iterator[tuple[Env, dict[str, TestClient]]]:
    """One app for the refusal tests: a refused request must change nothing, so they can share it."""
    root = tmp_path_factory.mktemp("shared")
    e = make_env(root, f"sqlite:///{root / 'shared.db'}", template=template_db)
    clients = {name: e.client(name) for name in (None, "clerk", "rev", "boss")}  # type: ignore[misc]
    yield e, clients  # type: ignore[misc]
    e.engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a free loopback port (uvicorn in a thread), for the browser tests; yields its base URL."""
    import uvicorn

    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{srv.config.port}"
    finally:
        srv.should_exit = True
        thread.join(10)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (the test is skipped when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


def read_samples(
    settings: Any,
    samples_dir: Any,
    submission_id: str,
    *,
    files: Sequence[str] | None = None,
    store_as: str | None = None,
    reader: Reader | None = None,
) -> tuple[list[Document], dict[int, str]]:
    """Read a generated submission (fixtures.samples layout) with the real pipeline and keep its normalised page
    images under data_dir/derived like the worker: (documents, document index -> derived image key). `reader`
    is the OCR reader (the recorded one, tests/plugins/ocr.py), Tesseract by default."""
    sid = store_as or submission_id
    derived = Path(settings.data_dir) / "derived"
    derived.mkdir(parents=True, exist_ok=True)
    documents: list[Document] = []
    image_keys: dict[int, str] = {}
    for path in sorted((Path(samples_dir) / "submissions" / submission_id).iterdir()):
        if files is not None and path.name not in files:
            continue
        result = read_file(path.read_bytes(), path.name, settings=settings, keep_pages=True, reader=reader)
        for doc, page in zip(result.documents, result.pages, strict=False):
            ok, buf = cv2.imencode(".jpg", page.image, [cv2.IMWRITE_JPEG_QUALITY, 88])
            if ok:
                key = f"derived/{sid}-{len(documents)}.jpg"
                (Path(settings.data_dir) / key).write_bytes(buf.tobytes())
                image_keys[len(documents)] = key
            documents.append(doc)
    return documents, image_keys
