"""F10: least privilege and private files. Clerks see their own uploads (admins all); releasing a lease one
does not hold is refused, with no audit row; /api/docs loads nothing from a CDN and runs under the app's own
CSP; an export is audited when it is made (a POST with the CSRF token), and no GET writes an audit row; the
data directory is 0700 and the SQLite database, the queue, archived scans and derived images are 0600. (The
blank password is in the F1 module's policy test, the directory key in F3's.)"""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

import pytest
from sec_support import Review
from sqlalchemy import func, select

from models.settings import Settings
from worker.intake.loop import WorkerOptions, settle_inbox
from worker.store.db import session_scope
from worker.store.review import AuditRow
from worker.wiring import build_worker

pytestmark = pytest.mark.security

SCAN = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set" / "submissions" / "S0008" / "cccd_front.jpg"


def _audit_count(review: Review, action: str) -> int:
    with session_scope(review.engine) as s:
        return int(s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.action == action)) or 0)


def test_clerks_see_only_their_own_uploads(review: Review) -> None:
    for clerk in ("clerk", "clerk2"):
        c = review.client(clerk)
        files = {"files": (f"{clerk}-Nguyễn Văn An 046090012345.jpg", SCAN.read_bytes(), "image/jpeg")}
        assert c.post("/api/uploads", files=files).status_code == 201
    mine = review.client("clerk").get("/api/uploads").json()
    assert [u["uploaded_by"] for u in mine] == ["clerk"]
    page = review.client("clerk").get("/jobs").text
    assert "clerk2-" not in page
    assert {u["uploaded_by"] for u in review.client("boss").get("/api/uploads").json()} == {"clerk", "clerk2"}


def test_releasing_someone_elses_lease_is_refused(review: Review) -> None:
    rev, rev2 = review.client("rev"), review.client("rev2")
    assert rev.post("/api/items/S-1/lease").status_code == 200
    before = _audit_count(review, "release")
    r = rev2.delete("/api/items/S-1/lease")
    assert r.status_code == 409 and r.json()["error"] == "lease_not_held"
    assert _audit_count(review, "release") == before
    assert rev2.post("/api/items/S-1/lease").json().get("error") == "leased_by_other"  # still rev's
    assert rev.delete("/api/items/S-1/lease").status_code == 204


def test_api_docs_come_from_packaged_assets_under_the_same_csp(review: Review) -> None:
    c = review.client("clerk")
    page = c.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == review.client().get("/login").headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    for src in sources:
        asset = c.get(src)
        assert asset.status_code == 200 and len(asset.content) > 500, src
    assert "SwaggerUIBundle" in c.get("/api/docs/assets/swagger-ui-bundle.js").text
    assert review.client().get("/api/docs/assets/swagger-ui.css").status_code == 401


def test_exports_are_audited_on_creation_never_by_a_get(review: Review) -> None:
    boss = review.client("boss")
    assert boss.get("/export").status_code == 200
    assert boss.get("/export/download", params={"format": "csv"}).status_code == 405
    assert boss.get("/api/export").status_code == 405
    assert _audit_count(review, "export") == 0
    assert boss.post("/api/export", params={"format": "csv"}).status_code == 200
    assert boss.post("/export/download", data={"format": "json"}).status_code == 200
    assert _audit_count(review, "export") == 2
    no_token = review.client("boss")
    del no_token.headers["X-CSRF-Token"]
    assert no_token.post("/export/download", data={"format": "csv"}).status_code == 403


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_personal_data_on_disk_is_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    inbox = settings.resolved_inbox_dir
    (inbox / "HS-1").mkdir(parents=True)
    shutil.copyfile(SCAN, inbox / "HS-1" / "front.jpg")
    (inbox / "HS-1" / "front.jpg").chmod(0o644)  # as a clerk's copy arrives
    options = WorkerOptions(drain=True, wait_s=0.2, settle_s=0.2, backoff_base_s=0.1)
    worker, watcher = build_worker(settings, options=options, propose=None)
    assert watcher is not None
    settle_inbox(watcher, worker.stop, interval_s=0.05)
    worker.run()
    data = settings.data_dir
    assert _mode(data) == 0o700
    files = [data / "intake.db", data / "queue.db", data / "archive" / "HS-1" / "front.jpg"]
    files += list((data / "derived").rglob("*.jpg"))
    assert len(files) > 3
    assert {str(p.relative_to(data)): _mode(p) for p in files} == {str(p.relative_to(data)): 0o600 for p in files}
    for folder in (data / "archive", data / "derived", *[p for p in (data / "derived").iterdir() if p.is_dir()]):
        assert _mode(folder) == 0o700, folder
