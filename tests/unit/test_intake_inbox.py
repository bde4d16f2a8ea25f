"""The inbox watcher: stable-file detection, enqueue-then-archive, name clashes, and fetching by content."""

from __future__ import annotations

import hashlib
import json

import pytest

from worker.errors import IntakeError
from worker.intake.events import parse_body
from worker.intake.queues import SqliteQueue
from worker.intake.sources import InboxStore, InboxWatcher, archived_name


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path):  # type: ignore[no-untyped-def]
    inbox, archive = tmp_path / "inbox", tmp_path / "archive"
    queue = SqliteQueue(tmp_path / "queue.db")
    clock = Clock()
    watcher = InboxWatcher(inbox, archive, lambda body, key: queue.send(body, dedup_key=key), settle_s=2.0, clock=clock)
    return inbox, archive, queue, clock, watcher


def test_a_file_is_taken_only_after_it_stops_changing(setup) -> None:  # type: ignore[no-untyped-def]
    inbox, archive, queue, clock, watcher = setup
    path = inbox / "HS-1" / "front.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"part one")
    assert watcher.scan() == 0 and watcher.pending == 1
    clock.now += 1.5
    with path.open("ab") as f:  # the copy is still running
        f.write(b" and part two")
    assert watcher.scan() == 0
    clock.now += 1.5
    assert watcher.scan() == 0  # unchanged, but not for 2 s yet
    clock.now += 1.0
    assert watcher.scan() == 1 and watcher.pending == 0
    assert not path.exists()
    assert (archive / "HS-1" / "front.jpg").read_bytes() == b"part one and part two"
    msg = queue.receive(0)
    assert msg is not None
    (item,) = parse_body(msg.body).items
    assert (item.bucket, item.key) == (None, "HS-1/front.jpg")
    assert item.version == "sha256:" + hashlib.sha256(b"part one and part two").hexdigest()


def test_temporary_and_hidden_files_are_left_alone(setup) -> None:  # type: ignore[no-untyped-def]
    inbox, _archive, queue, clock, watcher = setup
    (inbox / "HS-2").mkdir(parents=True)
    for name in ("scan.jpg.part", "scan.jpg.crdownload", ".DS_Store", "~$draft.tmp"):
        (inbox / "HS-2" / name).write_bytes(b"x")
    watcher.scan()
    clock.now += 5
    assert watcher.scan() == 0
    assert queue.depth().visible == 0
    assert (inbox / "HS-2" / "scan.jpg.part").exists()


def test_a_second_file_with_the_same_name_is_kept_apart(setup) -> None:  # type: ignore[no-untyped-def]
    inbox, archive, queue, clock, watcher = setup
    for content in (b"first version", b"second version"):
        path = inbox / "HS-3" / "gcn.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        watcher.scan()
        clock.now += 3
        assert watcher.scan() == 1
    second_sha = hashlib.sha256(b"second version").hexdigest()
    assert (archive / "HS-3" / "gcn.pdf").read_bytes() == b"first version"
    assert (archive / archived_name("HS-3/gcn.pdf", second_sha)).read_bytes() == b"second version"
    store = InboxStore(inbox, archive, archive.parent)
    items = []
    while (msg := queue.receive(0)) is not None:
        items += parse_body(msg.body).items
    assert [store.fetch(i, max_bytes=1000).data for i in items] == [b"first version", b"second version"]


def test_enqueue_then_archive_crash_only_resends(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A watcher that died after enqueueing but before archiving sees the file again: same dedup key."""
    inbox, archive, queue, clock, watcher = setup
    path = inbox / "HS-4" / "a.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"png bytes")
    watcher.scan()
    clock.now += 3
    watcher.scan()
    path.write_bytes(b"png bytes")  # as if the move had never happened
    (archive / "HS-4" / "a.png").unlink()
    fresh = InboxWatcher(inbox, archive, lambda body, key: queue.send(body, dedup_key=key), settle_s=2.0, clock=clock)
    fresh.scan()
    clock.now += 3
    assert fresh.scan() == 1
    assert queue.depth().visible == 1  # deduplicated while the first message still waits
    assert json.loads(queue.receive(0).body)["key"] == "HS-4/a.png"  # type: ignore[union-attr]


def test_fetch_reports_a_vanished_file_as_permanent(setup) -> None:  # type: ignore[no-untyped-def]
    inbox, archive, _queue, _clock, _watcher = setup
    store = InboxStore(inbox, archive, archive.parent)
    (item,) = parse_body(json.dumps({"version": 1, "key": "HS-5/gone.jpg", "version_id": "sha256:00"})).items
    with pytest.raises(IntakeError) as err:
        store.fetch(item, max_bytes=1000)
    assert err.value.code.value == "source_missing" and err.value.permanent


def test_fetch_refuses_oversized_files_without_reading_them(setup) -> None:  # type: ignore[no-untyped-def]
    inbox, archive, _queue, _clock, _watcher = setup
    (archive / "HS-6").mkdir(parents=True)
    (archive / "HS-6" / "big.tif").write_bytes(b"\0" * 5000)
    (item,) = parse_body(json.dumps({"version": 1, "key": "HS-6/big.tif"})).items
    with pytest.raises(IntakeError) as err:
        InboxStore(inbox, archive, archive.parent).fetch(item, max_bytes=4096)
    assert err.value.code.value == "file_too_large"


def test_derived_images_stay_inside_the_data_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = InboxStore(tmp_path / "inbox", tmp_path / "archive", tmp_path)
    key = store.put_derived("abc/p1.jpg", b"jpeg")
    assert key == "derived/abc/p1.jpg" and store.read_derived(key) == b"jpeg"
    with pytest.raises(IntakeError):
        store.read_derived("../../etc/passwd")


def test_only_folders_it_emptied_are_removed_and_only_later(setup) -> None:  # type: ignore[no-untyped-def]
    inbox, _archive, _queue, clock, watcher = setup
    (inbox / "HS-new").mkdir(parents=True)  # a clerk made a folder and has not copied anything yet
    (inbox / "HS-7" / "sub").mkdir(parents=True)
    (inbox / "HS-7" / "sub" / "a.jpg").write_bytes(b"a")
    watcher.scan()
    clock.now += 3
    assert watcher.scan() == 1
    clock.now += 30
    watcher.scan()
    assert (inbox / "HS-7" / "sub").is_dir()  # a clerk may still be adding files to it
    clock.now += 61
    watcher.scan()
    assert not (inbox / "HS-7" / "sub").exists()
    watcher.scan()
    assert not (inbox / "HS-7").exists()
    assert (inbox / "HS-new").is_dir()
