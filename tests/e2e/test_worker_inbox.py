"""The embedded default end to end: inbox folder → SQLite queue → real Tesseract → SQLite results.

Scans come from the committed synthetic sample set (fixtures/sample_set); a few small ones keep OCR time low.
Worker processes in the SIGTERM / SIGKILL / concurrency tests are real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from models.messages import QueueMessage
from models.proposal import Proposal
from models.settings import Settings, get_settings
from worker import metrics
from worker.intake.commands import main_group
from worker.intake.loop import WorkerOptions, settle_inbox
from worker.intake.sources import read_derived
from worker.store.db import session_scope
from worker.store.results import DocumentRow, ErrorRow, JobRow, ProposalRow, SourceObjectRow, SubmissionRow
from worker.wiring import build_worker

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set" / "submissions"
CARD = SAMPLES / "S0008" / "cccd_front.jpg"  # one document, ~1 s of OCR
CARD_BACK = SAMPLES / "S0006" / "cccd_back.jpg"
THREE_PAGES = SAMPLES / "S0003" / "gcn.tif"  # three pages, a few seconds: long enough to interrupt


def count_docs_propose(documents: list) -> list[Proposal]:  # type: ignore[type-arg]
    """A deterministic matcher plugged in through the public hook: its answer depends on every document
    it was given, so the stored proposal shows whether the whole submission was re-matched."""
    return [Proposal(parcel_id=f"P-{len(documents)}-docs", confidence=0.6, band="review")]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None, **overrides)  # type: ignore[call-arg]


def drop(settings: Settings, relative: str, source: Path | bytes) -> Path:
    path = settings.resolved_inbox_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, bytes):
        path.write_bytes(source)
    else:
        shutil.copyfile(source, path)
    return path


def run_drain(settings: Settings, *, propose=count_docs_propose, **opts):  # type: ignore[no-untyped-def]
    options = WorkerOptions(drain=True, wait_s=0.2, settle_s=0.2, backoff_base_s=0.1, **opts)
    worker, watcher = build_worker(settings, options=options, propose=propose)
    if watcher is not None:
        settle_inbox(watcher, worker.stop, interval_s=0.05)
    stats = worker.run()
    return worker, stats


def test_inbox_to_documents_and_whole_submission_rematch(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    drop(settings, "HS-1/front.jpg", CARD)
    worker, stats = run_drain(settings)
    assert stats.outcomes == {"processed": 1}
    engine = worker.processor.engine
    with session_scope(engine) as s:
        (doc,) = s.execute(select(DocumentRow)).scalars()
        assert doc.submission_id == "HS-1" and doc.source == "HS-1/front.jpg"
        assert read_derived(doc.image_key, settings)[:2] == b"\xff\xd8"  # the normalised page, a JPEG
        assert [p.parcel_id for p in s.execute(select(ProposalRow)).scalars()] == ["P-1-docs"]
        assert s.get(SubmissionRow, "HS-1").status == "processed"
    assert not (settings.resolved_inbox_dir / "HS-1" / "front.jpg").exists()
    assert (settings.data_dir / "archive" / "HS-1" / "front.jpg").is_file()

    # a document arriving later for the same submission: the whole submission is matched again
    drop(settings, "HS-1/back.jpg", CARD_BACK)
    worker, stats = run_drain(settings)
    assert stats.outcomes == {"processed": 1}
    with session_scope(worker.processor.engine) as s:
        assert s.execute(select(func.count()).select_from(DocumentRow)).scalar_one() == 2
        assert [p.parcel_id for p in s.execute(select(ProposalRow)).scalars()] == ["P-2-docs"]
        jobs = s.execute(select(JobRow.status, JobRow.attempts)).all()
        assert sorted(jobs) == [("done", 1), ("done", 1)]


def test_same_message_twice_gives_one_document(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    archived = settings.data_dir / "archive" / "HS-2" / "front.jpg"
    archived.parent.mkdir(parents=True)
    shutil.copyfile(CARD, archived)
    worker, _ = build_worker(settings, options=WorkerOptions(drain=True, wait_s=0.2), propose=count_docs_propose)
    body = QueueMessage(key="HS-2/front.jpg").model_dump_json()
    worker.queue.send(body)
    worker.queue.send(body)  # at-least-once: the broker delivers it again
    stats = worker.run()
    assert stats.messages == 2 and stats.results == {"ack": 2}
    assert stats.outcomes == {"processed": 1, "skipped": 1}
    with session_scope(worker.processor.engine) as s:
        assert s.execute(select(func.count()).select_from(DocumentRow)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(SourceObjectRow)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(ProposalRow)).scalar_one() == 1


def test_duplicate_upload_is_linked_not_reread(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    drop(settings, "HS-3/front.jpg", CARD)
    run_drain(settings)
    drop(settings, "HS-3/front copy.jpg", CARD)  # same bytes, same submission
    drop(settings, "HS-4/front.jpg", CARD)  # same bytes, another submission
    started = time.perf_counter()
    worker, stats = run_drain(settings)
    assert stats.outcomes == {"duplicate": 2}
    assert time.perf_counter() - started < 5  # no OCR happened (one card alone takes about a second)
    with session_scope(worker.processor.engine) as s:
        objects = {o.key: o for o in s.execute(select(SourceObjectRow)).scalars()}
        original = objects["HS-3/front.jpg"]
        assert objects["HS-3/front copy.jpg"].status == "duplicate"
        assert objects["HS-3/front copy.jpg"].duplicate_of == original.id
        assert objects["HS-4/front.jpg"].duplicate_of == original.id
        per_submission = dict(
            s.execute(select(DocumentRow.submission_id, func.count()).group_by(DocumentRow.submission_id)).all()
        )
        assert per_submission == {"HS-3": 1, "HS-4": 1}  # HS-4 got a copy to match against, HS-3 no second one
        assert [
            p.parcel_id for p in s.execute(select(ProposalRow).where(ProposalRow.submission_id == "HS-4")).scalars()
        ] == ["P-1-docs"]


def test_poison_files_are_recorded_and_the_worker_keeps_going(tmp_path: Path, huge_png) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    poison = [
        drop(settings, "HS-5/empty.jpg", b""),
        drop(settings, "HS-5/broken.pdf", b"%PDF-1.7\n1 0 obj <<>> endobj\n%%garbage"),
        drop(settings, "HS-5/bomb.png", huge_png(20000, 20000)),
        drop(settings, "HS-5/letter.docx", b"PK\x03\x04 a word document"),
    ]
    for path in poison:  # copied long ago: not a copy in progress that earns the half-written grace
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    drop(settings, "HS-5/good.jpg", CARD)
    worker, watcher = build_worker(
        settings, options=WorkerOptions(drain=True, wait_s=0.2, settle_s=0.2), propose=count_docs_propose
    )
    worker.queue.send("this is not JSON")
    assert watcher is not None
    settle_inbox(watcher, worker.stop, interval_s=0.05)
    stats = worker.run()
    assert stats.outcomes == {"failed": 4, "processed": 1}
    assert stats.results == {"ack": 5, "dead": 1}
    with session_scope(worker.processor.engine) as s:
        errors = dict(s.execute(select(ErrorRow.source, ErrorRow.code)).all())
        assert errors == {
            "HS-5/empty.jpg": "empty_file",
            "HS-5/broken.pdf": "corrupt_pdf",
            "HS-5/bomb.png": "image_too_large",
            "HS-5/letter.docx": "unsupported_format",
        }
        assert s.execute(select(func.count()).select_from(DocumentRow)).scalar_one() == 1
        failed_jobs = dict(s.execute(select(JobRow.key, JobRow.error_code).where(JobRow.status == "failed")).all())
        assert failed_jobs["HS-5/bomb.png"] == "image_too_large"
    (dead,) = worker.queue.list_dead()
    assert (dead.body, dead.error_code) == ("this is not JSON", "bad_message")


def test_a_bug_is_retried_then_dead_lettered_then_redriven(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, max_receive_count=2)
    drop(settings, "HS-6/front.jpg", CARD)
    import worker.pipeline

    real_read_file = worker.pipeline.read_file

    def broken_read_file(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("stage bug")  # fault injection: a bug in a stage

    monkeypatch.setattr(worker.pipeline, "read_file", broken_read_file)
    w, stats = run_drain(settings)
    assert stats.results == {"release": 1, "dead": 1}
    with session_scope(w.processor.engine) as s:
        (job,) = s.execute(select(JobRow)).scalars()
        assert (job.status, job.error_code, job.attempts, job.dead_lettered) == ("dead", "internal_error", 2, True)
        assert "stage bug" in job.error_message
        assert s.execute(select(SourceObjectRow.status)).scalar_one() == "dead"

    monkeypatch.setenv("INTAKE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        listed = runner.invoke(main_group, ["dlq", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        (entry,) = [json.loads(line) for line in listed.output.splitlines() if line.startswith("{")]
        assert entry["error_code"] == "internal_error" and entry["body"]["key"] == "HS-6/front.jpg"
        redriven = runner.invoke(main_group, ["dlq", "redrive", entry["id"][:12]])
        assert redriven.exit_code == 0 and "redrove 1" in redriven.output

        monkeypatch.setattr(worker.pipeline, "read_file", real_read_file)  # the bug is fixed
        w, stats = run_drain(settings)
        assert stats.outcomes == {"processed": 1}
        status = runner.invoke(main_group, ["status", "--json"])
        report = json.loads(status.output.strip().splitlines()[-1])
        assert report["jobs"] == {"done": 1}
        assert report["queue"]["visible"] == 0 and report["queue"]["dead"] == 0
    finally:
        get_settings.cache_clear()


def test_metrics_and_health_endpoints(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    drop(settings, "HS-7/front.jpg", CARD)
    worker, _stats = run_drain(settings)
    server = metrics.serve(0, worker.health, host="127.0.0.1")
    try:
        port = server.server_address[1]
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'intake_objects_total{outcome="processed"}' in body
        assert "intake_stage_seconds_bucket" in body and 'stage="read"' in body
        assert "intake_field_confidence_bucket" in body
        assert "intake_queue_lag_seconds_count" in body
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read())
        assert health["status"] == "ok"
        ready = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).read())
        assert ready == {"status": "ready", "database": True, "queue": True}
    finally:
        server.shutdown()


# ------------------------------------------------------------------------------------------- processes


def wait_for_job(db: Path, status: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db, timeout=5) as conn:
                if conn.execute("SELECT count(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0]:
                    return
        except sqlite3.OperationalError:
            pass  # the worker has not created the schema yet
        time.sleep(0.05)
    raise AssertionError(f"no job reached {status!r} within {timeout} s")


def results(db: Path) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        return {
            "documents": conn.execute("SELECT count(*) FROM documents").fetchone()[0],
            "objects": conn.execute("SELECT status, count(*) FROM source_objects GROUP BY status").fetchall(),
            "jobs": conn.execute("SELECT status, attempts FROM jobs").fetchall(),
        }


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return {"INTAKE_DATA_DIR": str(settings.data_dir), **extra}


@pytest.mark.slow  # the same guarantee on the production path runs by default (test_worker_s3.py)
def test_sigterm_finishes_the_current_message(tmp_path: Path, worker_process) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    drop(settings, "HS-8/gcn.tif", THREE_PAGES)
    proc = worker_process("--wait", "0.5", "--settle", "0.2", "--grace", "60", env=env_for(settings))
    db = settings.data_dir / "intake.db"
    wait_for_job(db, "running")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=90) == 0, Path(proc.log_path).read_text()
    assert results(db) == {"documents": 3, "objects": [("processed", 1)], "jobs": [("done", 1)]}
    with sqlite3.connect(settings.data_dir / "queue.db") as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0  # acknowledged


def test_sigterm_after_the_grace_period_releases_the_message(tmp_path: Path, worker_process) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    drop(settings, "HS-9/gcn.tif", THREE_PAGES)
    proc = worker_process("--wait", "0.5", "--settle", "0.2", "--grace", "0.3", env=env_for(settings))
    db = settings.data_dir / "intake.db"
    wait_for_job(db, "running")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 2.5  # it did not wait for the three pages
    assert results(db)["documents"] == 0
    with sqlite3.connect(settings.data_dir / "queue.db") as conn:
        visible = conn.execute("SELECT count(*) FROM messages WHERE visible_at <= ?", (time.time(),)).fetchone()[0]
    assert visible == 1  # released: the next worker takes it at once, not after the visibility timeout
    _worker, stats = run_drain(settings)
    assert stats.outcomes == {"processed": 1}
    assert results(db)["documents"] == 3


@pytest.mark.slow  # the same guarantee on the production path runs by default (test_worker_s3.py)
def test_sigkill_mid_job_loses_nothing_and_duplicates_nothing(tmp_path: Path, worker_process) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, visibility_timeout_s=3)
    drop(settings, "HS-10/gcn.tif", THREE_PAGES)
    drop(settings, "HS-10/front.jpg", CARD)
    env = env_for(settings, INTAKE_VISIBILITY_TIMEOUT_S="3")
    proc = worker_process("--wait", "0.5", "--settle", "0.2", env=env)
    db = settings.data_dir / "intake.db"
    wait_for_job(db, "running")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert results(db)["jobs"] != [("done", 1), ("done", 1)]
    survivor = worker_process("--wait", "0.5", "--settle", "0.2", "--drain", env=env, name="survivor")
    assert survivor.wait(timeout=120) == 0, Path(survivor.log_path).read_text()
    final = results(db)
    assert final["documents"] == 4
    assert final["objects"] == [("processed", 2)]
    assert sorted(final["jobs"])[0][0] == "done" and {s for s, _ in final["jobs"]} == {"done"}
    assert max(attempts for _, attempts in final["jobs"]) == 2  # the killed one was redelivered once


@pytest.mark.slow  # ~15 s of process start-up; the load benchmark runs two workers at scale
def test_concurrency_two_processes_share_the_work(tmp_path: Path, worker_process) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    for i, source in enumerate((CARD, CARD_BACK, SAMPLES / "S0012" / "gcn_p1.jpg", SAMPLES / "S0012" / "gcn_p2.jpg")):
        drop(settings, f"HS-{20 + i}/{source.name}", source)
    proc = worker_process("--concurrency", "2", "--drain", "--wait", "0.5", "--settle", "0.2", env=env_for(settings))
    assert proc.wait(timeout=120) == 0, Path(proc.log_path).read_text()
    with sqlite3.connect(settings.data_dir / "intake.db") as conn:
        workers = {row[0] for row in conn.execute("SELECT worker_id FROM jobs")}
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 4
        assert conn.execute("SELECT count(*) FROM jobs WHERE status = 'done'").fetchone()[0] == 4
    assert len(workers) == 2  # both processes took work


@pytest.fixture(autouse=True)
def _no_stray_settings_cache():  # type: ignore[no-untyped-def]
    yield
    get_settings.cache_clear()


def test_heartbeat_keeps_a_long_job_hidden_from_other_workers(tmp_path: Path) -> None:
    """Visibility timeout 2 s, a job of several seconds: without the heartbeat a second worker would get it."""
    import threading

    from worker.intake.queues import SqliteQueue

    settings = make_settings(tmp_path, visibility_timeout_s=2)
    archived = settings.data_dir / "archive" / "HS-30" / "gcn.tif"
    archived.parent.mkdir(parents=True)
    shutil.copyfile(THREE_PAGES, archived)
    worker, _ = build_worker(
        settings, options=WorkerOptions(drain=True, wait_s=0.2, heartbeat_s=0.5), propose=count_docs_propose
    )
    worker.queue.send(QueueMessage(key="HS-30/gcn.tif").model_dump_json())
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    db = settings.data_dir / "intake.db"
    wait_for_job(db, "running")
    rival = SqliteQueue(settings.data_dir / "queue.db", visibility_timeout_s=2)
    stolen = []
    while runner.is_alive():
        msg = rival.receive(0)
        if msg is not None:
            stolen.append(msg)
            rival.release(msg)
        time.sleep(0.2)
    runner.join()
    assert stolen == []
    assert results(db) == {"documents": 3, "objects": [("processed", 1)], "jobs": [("done", 1)]}


def test_reprocess_envelope_rereads_and_replaces_not_duplicates(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    drop(settings, "HS-31/front.jpg", CARD_BACK)
    worker, _ = run_drain(settings)
    with session_scope(worker.processor.engine) as s:
        (first_created,) = s.execute(select(DocumentRow.created_at)).scalars()
        version = s.execute(select(SourceObjectRow.version_id)).scalar_one()
    worker.queue.send(QueueMessage(kind="reprocess", key="HS-31/front.jpg", version_id=version).model_dump_json())
    worker, stats = run_drain(settings)
    assert stats.outcomes == {"processed": 1}
    with session_scope(worker.processor.engine) as s:
        (doc,) = s.execute(select(DocumentRow)).scalars()
        assert doc.created_at > first_created  # read again and replaced, not added
        assert s.execute(select(func.count()).select_from(SourceObjectRow)).scalar_one() == 1
        assert sorted(s.execute(select(JobRow.kind, JobRow.status)).all()) == [
            ("process_object", "done"),
            ("reprocess", "done"),
        ]
        assert [p.parcel_id for p in s.execute(select(ProposalRow)).scalars()] == ["P-1-docs"]
