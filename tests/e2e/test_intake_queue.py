"""Queue semantics, the same for the embedded SQLite queue and SQS (on a moto server)."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading

import pytest

from worker import aws
from worker.intake.queues import SqliteQueue, SqsQueue


class Clock:
    """A settable clock: visibility timeouts are tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def q(tmp_path, clock) -> SqliteQueue:  # type: ignore[no-untyped-def]
    return SqliteQueue(tmp_path / "queue.db", visibility_timeout_s=30, max_receive_count=3, clock=clock)


def test_sqlite_receive_hides_until_visibility_timeout(q: SqliteQueue, clock: Clock) -> None:
    q.send("one")
    msg = q.receive(0)
    assert msg is not None and msg.body == "one" and msg.receive_count == 1
    assert q.receive(0) is None
    assert (q.depth().visible, q.depth().in_flight) == (0, 1)
    clock.now += 31
    again = q.receive(0)
    assert again is not None and again.id == msg.id and again.receive_count == 2


def test_sqlite_stale_receipt_cannot_ack(q: SqliteQueue, clock: Clock) -> None:
    q.send("x")
    first = q.receive(0)
    clock.now += 31
    second = q.receive(0)
    assert first is not None and second is not None
    q.ack(first)  # the first worker timed out: its ack must not delete the message the second one holds
    assert q.depth().in_flight == 1
    q.ack(second)
    assert q.depth().pending == 0


def test_sqlite_heartbeat_extends_and_release_returns(q: SqliteQueue, clock: Clock) -> None:
    q.send("x")
    msg = q.receive(0)
    assert msg is not None
    clock.now += 25
    q.extend(msg, 30)
    clock.now += 25
    assert q.receive(0) is None  # still hidden thanks to the heartbeat
    q.release(msg, 10)
    assert q.receive(0) is None
    clock.now += 10
    assert q.receive(0) is not None


def test_sqlite_dead_letters_after_max_receives(q: SqliteQueue, clock: Clock) -> None:
    q.send("poison")
    for _ in range(3):
        assert q.receive(0) is not None
        clock.now += 31
    assert q.receive(0) is None
    (dead,) = q.list_dead()
    assert dead.body == "poison" and dead.receive_count == 3 and dead.error_code == "timeout"
    assert q.redrive() == 1
    msg = q.receive(0)
    assert msg is not None and msg.receive_count == 1


def test_sqlite_explicit_dead_letter_keeps_the_error(q: SqliteQueue) -> None:
    q.send("bad")
    msg = q.receive(0)
    assert msg is not None
    assert q.dead_letter(msg, "bad_message", "not JSON")
    (dead,) = q.list_dead()
    assert (dead.error_code, dead.error_message) == ("bad_message", "not JSON")
    assert q.depth().dead == 1 and q.depth().pending == 0


def test_sqlite_dedup_key_while_waiting(q: SqliteQueue) -> None:
    first = q.send("a", dedup_key="obj-1")
    assert q.send("a again", dedup_key="obj-1") == first
    assert q.depth().visible == 1
    msg = q.receive(0)
    assert msg is not None
    q.ack(msg)
    q.send("a later", dedup_key="obj-1")  # once done, the same object may be sent again
    assert q.depth().visible == 1


def test_sqlite_long_poll_returns_when_a_message_arrives(q: SqliteQueue) -> None:
    got: list[str] = []
    t = threading.Thread(target=lambda: got.append(getattr(q.receive(10), "body", "")))
    t.start()
    SqliteQueue(q.path, clock=q.clock).send("late")  # another process, same clock
    t.join(timeout=5)
    assert got == ["late"]


def test_sqlite_long_poll_stops_on_event(q: SqliteQueue) -> None:
    stop = threading.Event()
    stop.set()
    assert q.receive(30, stop=stop) is None


def _claim_all(path: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    queue = SqliteQueue(path, visibility_timeout_s=300)
    ids = []
    while (msg := queue.receive(0)) is not None:
        ids.append(msg.body)
        queue.ack(msg)
    out.put(ids)


def test_sqlite_two_processes_never_get_the_same_message(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "queue.db"
    producer = SqliteQueue(path)
    for i in range(60):
        producer.send(str(i))
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(str(path), out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    claimed = results[0] + results[1]
    assert sorted(claimed, key=int) == [str(i) for i in range(60)]


# ------------------------------------------------------------------------------------------- SQS


@pytest.fixture
def sqs_pair(moto_server: str, unique_name):  # type: ignore[no-untyped-def]
    sqs = aws.client("sqs")
    dlq_url = sqs.create_queue(QueueName=unique_name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=unique_name("q"),
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})},
    )["QueueUrl"]
    return url, dlq_url


def test_sqs_receive_extend_release_ack(sqs_pair) -> None:  # type: ignore[no-untyped-def]
    url, dlq_url = sqs_pair
    q = SqsQueue(url, dead_letter_url=dlq_url, visibility_timeout_s=30)
    q.send("hello")
    msg = q.receive(1)
    assert msg is not None and msg.body == "hello" and msg.receive_count == 1 and msg.sent_at
    assert q.receive(0) is None
    q.extend(msg, 60)
    q.release(msg, 0)
    again = q.receive(1)
    assert again is not None and again.id == msg.id and again.receive_count == 2
    q.ack(again)
    depth = q.depth()
    assert (depth.visible, depth.in_flight, depth.dead) == (0, 0, 0)


def test_sqs_dead_letter_list_and_redrive(sqs_pair) -> None:  # type: ignore[no-untyped-def]
    url, dlq_url = sqs_pair
    q = SqsQueue(url, dead_letter_url=dlq_url, visibility_timeout_s=30)
    q.send('{"version": 1, "key": "HS-1/a.jpg"}')
    msg = q.receive(1)
    assert msg is not None
    assert q.dead_letter(msg, "internal_error", "ValueError: boom")
    assert q.depth().pending == 0
    (dead,) = q.list_dead()
    assert (dead.error_code, dead.error_message, dead.body) == (
        "internal_error",
        "ValueError: boom",
        '{"version": 1, "key": "HS-1/a.jpg"}',
    )
    assert len(q.list_dead()) == 1  # listing does not consume
    assert q.redrive() == 1
    back = q.receive(1)
    assert back is not None and back.body == dead.body
    assert q.depth().dead == 0


def test_sqs_redrive_policy_catches_crashing_workers(sqs_pair) -> None:  # type: ignore[no-untyped-def]
    """A worker that dies every time never acks: after maxReceiveCount the broker moves the message."""
    url, dlq_url = sqs_pair
    q = SqsQueue(url, dead_letter_url=dlq_url, visibility_timeout_s=30)
    q.send("crashes the worker")
    for _ in range(3):
        msg = q.receive(1)
        assert msg is not None
        q.release(msg, 0)  # what a visibility timeout does for a dead worker, without the wait
    assert q.receive(1) is None
    assert [d.body for d in q.list_dead()] == ["crashes the worker"]
