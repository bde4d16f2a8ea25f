"""F3 (and F10's poison key that is a directory): a queue message is untrusted input. It may only name an
object in the configured bucket (and key prefix) or a regular file inside the inbox; anything else goes to
the dead-letter queue at once as bad_message with the reason, and nothing is read. `intake relay` listens on
loopback by default, needs INTAKE_RELAY_TOKEN anywhere else, and relays S3 events only."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import func, select

from models.messages import QueueMessage
from models.settings import Settings
from worker.intake.loop import WorkerOptions
from worker.intake.queues import SqliteQueue
from worker.intake.relay import serve_relay
from worker.store.db import session_scope
from worker.store.results import DocumentRow, SourceObjectRow
from worker.wiring import build_worker

pytestmark = pytest.mark.security

SCAN = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set" / "submissions" / "S0008" / "cccd_front.jpg"


def _run(settings: Settings, bodies: list[str]) -> tuple[Any, list[Any]]:
    """Send the bodies to the worker's queue, drain it, return (worker, its dead letters)."""
    options = WorkerOptions(drain=True, wait_s=0.2, settle_s=0.2, backoff_base_s=0.1, watch=False)
    worker, _ = build_worker(settings, options=options, propose=None)
    for body in bodies:
        worker.queue.send(body)
    worker.run()
    return worker, worker.queue.list_dead()


def _documents(worker: Any) -> int:
    with session_scope(worker.processor.engine) as s:
        return int(s.scalar(select(func.count()).select_from(DocumentRow)) or 0)


def _envelope(key: str, **kw: Any) -> str:
    return QueueMessage(key=key, **kw).model_dump_json()


def test_inbox_messages_naming_anything_but_a_file_inside_the_inbox_are_dead_lettered(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    secret = tmp_path / "elsewhere" / "secret.jpg"
    secret.parent.mkdir()
    shutil.copyfile(SCAN, secret)
    inbox = settings.resolved_inbox_dir
    (inbox / "S1" / "folder.jpg").mkdir(parents=True)
    (inbox / "S1" / "link.jpg").symlink_to(secret)
    (inbox / "S2").symlink_to(secret.parent, target_is_directory=True)
    bodies = [
        _envelope(str(secret)),  # an absolute path
        _envelope("../../elsewhere/secret.jpg"),
        _envelope("S1/link.jpg"),  # a symlink in the inbox
        _envelope("S2/secret.jpg"),  # through a symlinked folder
        _envelope("S1/folder.jpg"),  # a directory (F10: it used to end as `timeout` after three tries)
        _envelope("S1/scan.jpg", bucket="other-tenant"),  # a bucket in inbox mode
    ]
    worker, dead = _run(settings, bodies)
    assert _documents(worker) == 0
    assert sorted(json.loads(d.body)["key"] for d in dead) == sorted(json.loads(b)["key"] for b in bodies)
    assert {d.error_code for d in dead} == {"bad_message"}
    assert all(d.receive_count == 1 for d in dead)  # at once, not after retries
    reasons = " ".join(d.error_message or "" for d in dead)
    assert "symlink" in reasons and "directory" in reasons and "not a relative path" in reasons
    with session_scope(worker.processor.engine) as s:  # nothing was recorded under an attacker's path
        keys = set(s.scalars(select(SourceObjectRow.key)))
    assert keys <= {"S1/folder.jpg", "S1/link.jpg", "S2/secret.jpg"}


def test_devices_and_fifos_are_never_read(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    inbox = settings.resolved_inbox_dir
    (inbox / "S3").mkdir(parents=True)
    os.mkfifo(inbox / "S3" / "pipe.jpg")
    (inbox / "S3" / "zero.jpg").symlink_to("/dev/zero")
    _worker, dead = _run(settings, [_envelope("/dev/zero"), _envelope("S3/pipe.jpg"), _envelope("S3/zero.jpg")])
    assert len(dead) == 3 and {d.error_code for d in dead} == {"bad_message"}
    assert "FIFO" in " ".join(d.error_message or "" for d in dead)


def test_an_event_for_another_bucket_is_dead_lettered_unread(
    moto_server: str, unique_name: Any, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    mine, other = unique_name("mine"), unique_name("other-tenant")
    for bucket in (mine, other):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=other, Key="incoming/HS-9/front.jpg", Body=SCAN.read_bytes())
    s3.put_object(Bucket=mine, Key="elsewhere/front.jpg", Body=SCAN.read_bytes())
    settings = Settings(data_dir=tmp_path / "data", bucket=mine, _env_file=None)  # type: ignore[call-arg]

    def event(bucket: str, key: str) -> str:
        record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
        return json.dumps({"Records": [record]})

    options = WorkerOptions(drain=True, wait_s=0.2, backoff_base_s=0.1, key_prefix="incoming/")
    worker, _ = build_worker(settings, options=options, propose=None)
    for body in (event(other, "incoming/HS-9/front.jpg"), event(mine, "elsewhere/front.jpg")):
        worker.queue.send(body)
    worker.run()
    dead = worker.queue.list_dead()
    assert len(dead) == 2 and {d.error_code for d in dead} == {"bad_message"}
    assert "not this worker's bucket" in " ".join(d.error_message or "" for d in dead)
    assert _documents(worker) == 0


def _post(url: str, payload: object, token: str | None = None) -> int:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_relay_is_loopback_by_default_and_relays_only_s3_events(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queue.db")
    with pytest.raises(ValueError, match="INTAKE_RELAY_TOKEN"):
        serve_relay(queue, host="0.0.0.0", port=0)
    server = serve_relay(queue, port=0, bucket="scans")
    assert server.server_address[0] == "127.0.0.1"
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        assert _post(url, json.loads(_envelope("/etc/passwd"))) == 400  # our envelope can name a local file
        other = {
            "Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "other"}, "object": {"key": "a"}}}]
        }
        assert _post(url, other) == 400
        mine = {
            "Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "scans"}, "object": {"key": "a"}}}]
        }
        assert _post(url, mine) == 200
    finally:
        server.shutdown()
    assert queue.depth().visible == 1
