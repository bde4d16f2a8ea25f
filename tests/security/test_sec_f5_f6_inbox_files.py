"""F5: a FIFO in the inbox must not stall intake, and symlinks are not followed out of it. F6: a copy that
pauses longer than the settle time is not taken half written and condemned; a scan that does not decode
yet and changed moments ago is retried, not made permanent."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.messages import QueueMessage
from models.settings import Settings
from worker.intake.loop import WorkerOptions
from worker.intake.queues import SqliteQueue
from worker.intake.sources import InboxWatcher, archive_dir
from worker.store.db import session_scope
from worker.store.results import DocumentRow, ErrorRow, JobRow
from worker.store.submissions import object_version
from worker.wiring import build_worker

pytestmark = pytest.mark.security

SCAN = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set" / "submissions" / "S0008" / "cccd_front.jpg"


def test_a_fifo_does_not_stall_the_inbox_and_symlinks_are_not_followed(tmp_path: Path) -> None:
    inbox, archive = tmp_path / "inbox", tmp_path / "archive"
    queue = SqliteQueue(tmp_path / "queue.db")
    now = [100.0]
    watcher = InboxWatcher(inbox, archive, lambda body, key: queue.send(body, dedup_key=key), clock=lambda: now[0])
    (inbox / "X").mkdir(parents=True)
    os.mkfifo(inbox / "X" / "pipe.jpg")
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(SCAN.read_bytes())
    (inbox / "X" / "link.jpg").symlink_to(outside)
    (inbox / "X" / "scan.jpg").write_bytes(SCAN.read_bytes())

    def two_scans() -> None:
        watcher.scan()
        now[0] += 5
        watcher.scan()

    scanner = threading.Thread(target=two_scans, daemon=True)
    scanner.start()
    scanner.join(timeout=20)
    if scanner.is_alive():  # the old watcher blocks in open() on the FIFO: give it a writer so the thread ends
        with open(inbox / "X" / "pipe.jpg", "wb"):
            pass
        pytest.fail("the inbox scan blocked on a FIFO")
    keys = []
    while (msg := queue.receive(0)) is not None:
        keys.append(QueueMessage.model_validate_json(msg.body).key)
    assert keys == ["X/scan.jpg"]
    assert (inbox / "X" / "pipe.jpg").exists() and (inbox / "X" / "link.jpg").is_symlink()
    assert outside.exists() and not (archive / "X" / "link.jpg").exists()


def _drain(settings: Settings, **kw: Any) -> Any:
    options = WorkerOptions(drain=True, wait_s=0.2, backoff_base_s=0.1, watch=False, **kw)
    worker, _ = build_worker(settings, options=options, propose=None)
    worker.run()
    return worker


def test_a_copy_that_pauses_longer_than_the_settle_time_is_read_whole(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    queue = SqliteQueue(settings.data_dir / "queue.db")
    inbox = settings.resolved_inbox_dir
    watcher = InboxWatcher(
        inbox, archive_dir(settings), lambda body, key: queue.send(body, dedup_key=key), settle_s=1.0, interval_s=0.2
    )
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    data = SCAN.read_bytes()
    (inbox / "HS-6").mkdir(parents=True)
    try:
        with open(inbox / "HS-6" / "front.jpg", "wb") as out:  # one copy, one descriptor, a 2 s pause
            out.write(data[: len(data) // 2])
            out.flush()
            time.sleep(2.0)
            out.write(data[len(data) // 2 :])
        deadline = time.monotonic() + 30
        while watcher.enqueued == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=5)
    worker = _drain(settings)
    with session_scope(worker.processor.engine) as s:
        assert [e.code for e in s.scalars(select(ErrorRow))] == []
        assert len(s.scalars(select(DocumentRow)).all()) == 1


def test_a_scan_that_does_not_decode_yet_is_retried_not_condemned(tmp_path: Path) -> None:
    """The worker's own grace: a half-written file it was handed (a format the watcher cannot check, or a
    copy still writing into the archived file) is retried while it keeps changing."""
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    data = SCAN.read_bytes()
    half = data[: len(data) // 2]
    archived = archive_dir(settings) / "HS-7" / "front.jpg"
    archived.parent.mkdir(parents=True)
    archived.write_bytes(half)
    version = object_version(sha256=hashlib.sha256(half).hexdigest())
    options = WorkerOptions(drain=False, wait_s=0.2, backoff_base_s=0.1, watch=False, max_messages=1)
    worker, _ = build_worker(settings, options=options, propose=None)
    worker.queue.send(QueueMessage(key="HS-7/front.jpg", version_id=version).model_dump_json())
    worker.run()
    with session_scope(worker.processor.engine) as s:
        (job,) = s.scalars(select(JobRow))
        assert (job.status, job.error_code) == ("retrying", "file_incomplete")
        assert s.scalars(select(ErrorRow)).all() == []  # nothing condemned
    with open(archived, "ab") as out:
        out.write(data[len(data) // 2 :])
    time.sleep(0.5)  # the retry's back-off
    worker = _drain(settings)
    with session_scope(worker.processor.engine) as s:
        assert len(s.scalars(select(DocumentRow)).all()) == 1
        assert s.scalars(select(ErrorRow)).all() == []
