"""`intake process --save` stores what the worker stores (so it feeds the review queue), and `review serve`
creates the first admin from INTAKE_BOOTSTRAP_ADMIN_* (issue 17 items 10 and 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from models.settings import Settings
from worker.failures import CommandFailure
from worker.review.auth import verify_password
from worker.review.commands import bootstrap_admin
from worker.store.db import make_engine, session_scope
from worker.store.results import DocumentRow, JobRow, ProposalRow, SubmissionRow
from worker.store.review import AuditRow, ReviewQueueRow, UserRow, ensure_schema, sync_queue


def intake(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"INTAKE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "OMP_THREAD_LIMIT": "1"}
    proc = subprocess.run([sys.executable, "-m", "worker", *args], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_process_save_stores_like_the_worker_and_feeds_the_review_queue(tmp_path: Path) -> None:
    from fixtures.samples import generate

    generate(tmp_path / "set", 3, 11)
    truth = [json.loads(line) for line in (tmp_path / "set" / "truth.jsonl").read_text().splitlines()]
    sid = next(t["submission_id"] for t in truth if t["in_registry"])
    data = tmp_path / "data"
    intake("parcels", "import", str(tmp_path / "set" / "parcels.csv"), data_dir=data)
    folder = tmp_path / "set" / "submissions" / sid

    printed = json.loads(intake("process", "--save", "--json", str(folder), data_dir=data).stdout)
    assert printed["submission_id"] == sid and printed["documents"] and printed["proposals"]
    assert {Path(d["source"]).parts[0] for d in printed["documents"]} == {sid}  # keyed like inbox files

    engine = make_engine(f"sqlite:///{data / 'intake.db'}")
    with session_scope(engine) as s:
        files = len([p for p in folder.iterdir() if p.is_file()])
        assert s.scalar(select(func.count()).select_from(JobRow).where(JobRow.status == "done")) == files
        assert s.scalar(select(func.count()).select_from(DocumentRow)) == len(printed["documents"])
        stored = s.scalars(select(ProposalRow.parcel_id).order_by(ProposalRow.rank)).all()
        assert stored == [p["parcel_id"] for p in printed["proposals"]]
        assert s.get(SubmissionRow, sid).best_band in ("auto_accept", "review")
    ensure_schema(engine)
    with session_scope(engine) as s:
        assert sync_queue(s, 1.0) == 1  # the review app's queue takes it like any worker-stored submission
        assert s.scalar(select(ReviewQueueRow.submission_id)) == sid

    again = json.loads(intake("process", "--save", "--json", str(folder), data_dir=data).stdout)
    assert [d["sha256"] for d in again["documents"]] == [d["sha256"] for d in printed["documents"]]
    with session_scope(engine) as s:  # idempotent: nothing read or stored twice
        assert s.scalar(select(func.count()).select_from(DocumentRow)) == len(printed["documents"])
    status = json.loads(intake("status", "--json", data_dir=data).stdout)
    assert status["objects"] == {"processed": files}


def test_bootstrap_admin_is_created_once_and_never_reset(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    ensure_schema(engine)
    settings = Settings(data_dir=tmp_path, bootstrap_admin_name="chi.admin", bootstrap_admin_password=SecretStr("first-password-1"))
    assert bootstrap_admin(engine, settings) == "chi.admin"
    assert bootstrap_admin(engine, settings) is None  # a second start, or a second replica
    with session_scope(engine) as s:
        user = s.scalar(select(UserRow).where(UserRow.name == "chi.admin"))
        assert user is not None and user.role == "admin" and verify_password(user, "first-password-1")
        user.password_hash = "changed since"
        audit = s.scalars(select(AuditRow.detail).where(AuditRow.action == "user_add")).all()
        assert audit == [{"name": "chi.admin", "role": "admin"}]  # audited, without the password
    assert bootstrap_admin(engine, settings) is None
    with session_scope(engine) as s:
        assert s.scalar(select(UserRow.password_hash).where(UserRow.name == "chi.admin")) == "changed since"

    assert bootstrap_admin(engine, Settings(data_dir=tmp_path)) is None  # not configured: nothing to do
    for bad in (
        Settings(data_dir=tmp_path, bootstrap_admin_name="x"),
        Settings(data_dir=tmp_path, bootstrap_admin_name="new.admin", bootstrap_admin_password=SecretStr("short")),
    ):
        with pytest.raises(CommandFailure) as failure:
            bootstrap_admin(engine, bad)
        assert failure.value.exit_code == 2 and "short" not in failure.value.message.replace("too short", "")


def test_review_serve_bootstraps_without_printing_the_password(tmp_path: Path) -> None:
    """The real command: the admin exists after start-up, and the password appears in no output."""
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    password = "boot-strap-pass-42"
    env = dict(
        os.environ, INTAKE_DATA_DIR=str(tmp_path), INTAKE_BOOTSTRAP_ADMIN_NAME="first.admin",
        INTAKE_BOOTSTRAP_ADMIN_PASSWORD=password, INTAKE_LOG_LEVEL="DEBUG",
    )  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "review", "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "created admin" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log.read_text()
    assert "created admin first.admin" in text and password not in text
    with session_scope(make_engine(f"sqlite:///{tmp_path / 'intake.db'}")) as s:
        user = s.scalar(select(UserRow).where(UserRow.name == "first.admin"))
        assert user is not None and verify_password(user, password)


def test_a_submission_without_candidates_is_counted_as_no_match(tmp_path: Path, simple_scan) -> None:  # type: ignore[no-untyped-def]
    """The worker's metric for the no-match count: intake_rematches_total{band="none"}."""
    from prometheus_client import REGISTRY

    from worker.intake.direct import save_submissions
    from worker.pipeline import collect_submissions
    from worker.store.migrate import open_database

    folder = tmp_path / "HS-NOMATCH"
    folder.mkdir()
    (folder / "page.png").write_bytes(simple_scan("no match"))
    settings = Settings(data_dir=tmp_path)
    engine = open_database(settings.resolved_database_url)
    before = REGISTRY.get_sample_value("intake_rematches_total", {"band": "none"}) or 0.0
    [result] = save_submissions(collect_submissions([folder]), settings, engine, propose=lambda docs: [])
    assert result.documents and not result.proposals
    assert REGISTRY.get_sample_value("intake_rematches_total", {"band": "none"}) == before + 1
