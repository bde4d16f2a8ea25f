"""Queues with SQS semantics: a durable local SQLite queue (embedded default) and SQS itself (production).

Both give at-least-once delivery with a visibility timeout: a received message is hidden, not removed; the
worker extends the timeout while it works (heartbeat), deletes the message only after its results are
committed (ack), and a message whose worker died reappears when the timeout runs out. A message received
more than ``max_receive_count`` times without an ack moves to the dead-letter queue (SQS does this with a
RedrivePolicy; the SQLite queue does it itself), and the worker can dead-letter a message on purpose with the
error that condemned it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.config import Config

from models.errors import ErrorCode
from models.settings import Settings
from worker import aws
from worker.errors import IntakeError
from worker.files import private_dir, private_file

log = logging.getLogger(__name__)


@dataclass
class Message:
    id: str
    body: str
    receipt: str
    receive_count: int = 1
    sent_at: float | None = None  # epoch seconds, for queue-lag metrics
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class DeadLetter:
    id: str
    body: str
    receive_count: int
    error_code: str | None
    error_message: str | None
    dead_at: float | None


@dataclass
class QueueDepth:
    visible: int
    in_flight: int
    dead: int | None  # None when there is no dead-letter queue to ask

    @property
    def pending(self) -> int:
        return self.visible + self.in_flight


class Queue(Protocol):
    name: str

    def send(self, body: str, *, dedup_key: str | None = None, delay_s: int = 0) -> str: ...
    def receive(self, wait_s: float, *, stop: threading.Event | None = None) -> Message | None: ...
    def ack(self, msg: Message) -> None: ...
    def extend(self, msg: Message, timeout_s: int) -> None: ...
    def release(self, msg: Message, delay_s: int = 0) -> None: ...
    def dead_letter(self, msg: Message, code: str, reason: str) -> bool: ...
    def depth(self) -> QueueDepth: ...
    def list_dead(self, limit: int = 100) -> list[DeadLetter]: ...
    def redrive(self, ids: list[str] | None = None, limit: int | None = None) -> int: ...


# ------------------------------------------------------------------------------------------- SQLite


_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL DEFAULT 'main',
    body TEXT NOT NULL,
    dedup_key TEXT,
    sent_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    error_code TEXT,
    error_message TEXT,
    dead_at REAL
);
CREATE INDEX IF NOT EXISTS ix_messages_ready ON messages (queue, visible_at, seq);
CREATE UNIQUE INDEX IF NOT EXISTS ux_messages_dedup ON messages (dedup_key) WHERE dedup_key IS NOT NULL AND queue = 'main';
"""


class SqliteQueue:
    """A durable queue in one SQLite file, safe for several processes (WAL, BEGIN IMMEDIATE claims).

    ``dedup_key``: sending a second message with the key of one still waiting in the queue is a no-op, so a
    producer that crashed between sending and recording that it sent can simply send again."""

    def __init__(
        self,
        path: Path,
        *,
        visibility_timeout_s: int = 120,
        max_receive_count: int = 5,
        poll_interval_s: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.name = f"sqlite:{self.path}"
        self.visibility_timeout_s = visibility_timeout_s
        self.max_receive_count = max_receive_count
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self._local = threading.local()
        private_dir(self.path.parent)
        private_file(self.path)  # messages name scans (and clerks' file names): not for other accounts
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged send must survive a power cut, not only a process crash
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: Any, *_: Any) -> None:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> SqliteQueue._Tx:
        return SqliteQueue._Tx(self._conn())

    def send(self, body: str, *, dedup_key: str | None = None, delay_s: int = 0) -> str:
        message_id = uuid.uuid4().hex
        now = self.clock()
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO messages (id, body, dedup_key, sent_at, visible_at) VALUES (?, ?, ?, ?, ?)",
                (message_id, body, dedup_key, now, now + delay_s),
            )
            if cur.rowcount == 0 and dedup_key is not None:
                row = conn.execute(
                    "SELECT id FROM messages WHERE dedup_key = ? AND queue = 'main'", (dedup_key,)
                ).fetchone()
                return str(row[0]) if row else message_id
        return message_id

    def _claim(self) -> Message | None:
        now = self.clock()
        with self._tx() as conn:
            while True:
                row = conn.execute(
                    "SELECT id, body, receive_count, sent_at FROM messages "
                    "WHERE queue = 'main' AND visible_at <= ? ORDER BY visible_at, seq LIMIT 1",
                    (now,),
                ).fetchone()
                if row is None:
                    return None
                message_id, body, count, sent_at = row
                if count >= self.max_receive_count:
                    # SQS redrive semantics: received max times and never acknowledged (its workers died or
                    # timed out every time) - stop handing it out
                    conn.execute(
                        "UPDATE messages SET queue = 'dead', dead_at = ?, receipt = NULL, "
                        "error_code = COALESCE(error_code, ?), error_message = COALESCE(error_message, ?) "
                        "WHERE id = ?",
                        (
                            now,
                            ErrorCode.TIMEOUT.value,
                            f"received {count} times without being acknowledged",
                            message_id,
                        ),
                    )
                    log.warning("message %s dead-lettered after %d receives", message_id, count)
                    continue
                receipt = uuid.uuid4().hex
                conn.execute(
                    "UPDATE messages SET receive_count = receive_count + 1, receipt = ?, visible_at = ? WHERE id = ?",
                    (receipt, now + self.visibility_timeout_s, message_id),
                )
                return Message(message_id, body, receipt, count + 1, sent_at)

    def receive(self, wait_s: float, *, stop: threading.Event | None = None) -> Message | None:
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            msg = self._claim()
            if msg is not None:
                return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return None
            pause = min(self.poll_interval_s, remaining)
            if stop is not None:
                if stop.wait(pause):
                    return None
            else:
                time.sleep(pause)

    def _update_by_receipt(self, msg: Message, sql: str, params: tuple[Any, ...]) -> bool:
        with self._tx() as conn:
            cur = conn.execute(sql + " WHERE id = ? AND receipt = ?", (*params, msg.id, msg.receipt))
            return cur.rowcount > 0

    def ack(self, msg: Message) -> None:
        with self._tx() as conn:
            # a stale receipt (the message timed out and someone else holds it now) must not delete it
            conn.execute("DELETE FROM messages WHERE id = ? AND receipt = ?", (msg.id, msg.receipt))

    def extend(self, msg: Message, timeout_s: int) -> None:
        if not self._update_by_receipt(msg, "UPDATE messages SET visible_at = ?", (self.clock() + timeout_s,)):
            log.warning("heartbeat for message %s: receipt is stale (visibility timeout too short?)", msg.id)

    def release(self, msg: Message, delay_s: int = 0) -> None:
        self._update_by_receipt(msg, "UPDATE messages SET visible_at = ?, receipt = NULL", (self.clock() + delay_s,))

    def dead_letter(self, msg: Message, code: str, reason: str) -> bool:
        return self._update_by_receipt(
            msg,
            "UPDATE messages SET queue = 'dead', dead_at = ?, receipt = NULL, error_code = ?, error_message = ?",
            (self.clock(), code, reason[:4000]),
        )

    def depth(self) -> QueueDepth:
        now = self.clock()
        conn = self._conn()
        visible, in_flight, dead = conn.execute(
            "SELECT "
            "COALESCE(SUM(queue = 'main' AND visible_at <= ?), 0), "
            "COALESCE(SUM(queue = 'main' AND visible_at > ?), 0), "
            "COALESCE(SUM(queue = 'dead'), 0) FROM messages",
            (now, now),
        ).fetchone()
        return QueueDepth(int(visible), int(in_flight), int(dead))

    def list_dead(self, limit: int = 100) -> list[DeadLetter]:
        rows = (
            self._conn()
            .execute(
                "SELECT id, body, receive_count, error_code, error_message, dead_at FROM messages "
                "WHERE queue = 'dead' ORDER BY dead_at, seq LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [DeadLetter(*row) for row in rows]

    def redrive(self, ids: list[str] | None = None, limit: int | None = None) -> int:
        """Move dead letters back to the queue with a fresh receive count (all, or the given ids)."""
        now = self.clock()
        with self._tx() as conn:
            if ids:
                marks = ",".join("?" * len(ids))
                selected = [
                    r[0] for r in conn.execute(f"SELECT id FROM messages WHERE queue='dead' AND id IN ({marks})", ids)
                ]
            else:
                selected = [
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM messages WHERE queue = 'dead' ORDER BY dead_at, seq LIMIT ?", (limit or -1,)
                    )
                ]
            for message_id in selected:
                # the dedup key could collide with a fresh copy already waiting: then drop it, the copy does it
                try:
                    conn.execute(
                        "UPDATE messages SET queue = 'main', visible_at = ?, receive_count = 0, receipt = NULL, "
                        "dead_at = NULL WHERE id = ?",
                        (now, message_id),
                    )
                except sqlite3.IntegrityError:
                    conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        return len(selected)


# ------------------------------------------------------------------------------------------- SQS


def _storage_error(action: str, exc: Exception) -> IntakeError:
    return IntakeError(ErrorCode.STORAGE_UNAVAILABLE, f"SQS {action} failed: {type(exc).__name__}: {exc}")


class SqsQueue:
    """SQS (or any SQS-compatible broker: ElasticMQ, moto, LocalStack) with long polling.

    worker.aws finds the region (AWS_REGION or AWS_DEFAULT_REGION, else the queue URL's); boto3 honours
    AWS_ENDPOINT_URL and the usual credentials chain. Dead-lettering: the
    queue's RedrivePolicy catches messages whose workers crashed every time; the worker itself moves
    messages it gives up on to ``dead_letter_url`` with the error as message attributes."""

    def __init__(
        self,
        queue_url: str,
        *,
        dead_letter_url: str | None = None,
        visibility_timeout_s: int = 120,
        client: Any = None,
    ) -> None:
        self.url = queue_url
        self.name = queue_url
        self.dead_letter_url = dead_letter_url
        self.visibility_timeout_s = visibility_timeout_s
        # read timeout above the 20 s long poll; standard retry mode backs off on throttling
        config = Config(read_timeout=30, connect_timeout=5, retries={"mode": "standard", "max_attempts": 4})
        self.client = client or aws.client("sqs", url=queue_url, config=config)

    def send(self, body: str, *, dedup_key: str | None = None, delay_s: int = 0) -> str:
        try:
            resp = self.client.send_message(QueueUrl=self.url, MessageBody=body, DelaySeconds=int(delay_s))
        except Exception as exc:
            raise _storage_error("send", exc) from exc
        return str(resp["MessageId"])

    def receive(self, wait_s: float, *, stop: threading.Event | None = None) -> Message | None:
        try:
            resp = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=int(min(20, max(0, wait_s))),
                VisibilityTimeout=self.visibility_timeout_s,
                AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                MessageAttributeNames=["All"],
            )
        except Exception as exc:
            raise _storage_error("receive", exc) from exc
        messages = resp.get("Messages") or []
        if not messages:
            return None
        m = messages[0]
        attrs = m.get("Attributes", {})
        sent = attrs.get("SentTimestamp")
        return Message(
            id=m["MessageId"],
            body=m["Body"],
            receipt=m["ReceiptHandle"],
            receive_count=int(attrs.get("ApproximateReceiveCount", 1)),
            sent_at=int(sent) / 1000 if sent else None,
            attributes={k: v.get("StringValue", "") for k, v in (m.get("MessageAttributes") or {}).items()},
        )

    def ack(self, msg: Message) -> None:
        try:
            self.client.delete_message(QueueUrl=self.url, ReceiptHandle=msg.receipt)
        except Exception as exc:
            raise _storage_error("delete", exc) from exc

    def extend(self, msg: Message, timeout_s: int) -> None:
        try:
            self.client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=msg.receipt, VisibilityTimeout=int(timeout_s)
            )
        except Exception as exc:  # the job goes on; at worst it is redelivered and deduplicated
            log.warning("heartbeat for message %s failed: %s", msg.id, exc)

    def release(self, msg: Message, delay_s: int = 0) -> None:
        try:
            self.client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=msg.receipt, VisibilityTimeout=int(min(delay_s, 43200))
            )
        except Exception as exc:  # it becomes visible again when its timeout runs out anyway
            log.warning("releasing message %s failed: %s", msg.id, exc)

    def dead_letter(self, msg: Message, code: str, reason: str) -> bool:
        if not self.dead_letter_url:
            return False
        attributes = {
            "error_code": {"DataType": "String", "StringValue": code},
            "error_message": {"DataType": "String", "StringValue": reason[:1000] or "-"},
            "receive_count": {"DataType": "Number", "StringValue": str(msg.receive_count)},
            "source_queue": {"DataType": "String", "StringValue": self.url},
            "original_message_id": {"DataType": "String", "StringValue": msg.id},
        }
        try:
            self.client.send_message(QueueUrl=self.dead_letter_url, MessageBody=msg.body, MessageAttributes=attributes)
        except Exception as exc:
            raise _storage_error("send to the dead-letter queue", exc) from exc
        # sent then deleted: a crash in between leaves a copy in both, which idempotent processing absorbs
        self.ack(msg)
        return True

    def _attributes(self, url: str) -> dict[str, str]:
        try:
            return dict(
                self.client.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
            )
        except Exception as exc:
            raise _storage_error("get_queue_attributes", exc) from exc

    def depth(self) -> QueueDepth:
        main = self._attributes(self.url)
        dead = None
        if self.dead_letter_url:
            dead = int(self._attributes(self.dead_letter_url).get("ApproximateNumberOfMessages", 0))
        return QueueDepth(
            int(main.get("ApproximateNumberOfMessages", 0)),
            int(main.get("ApproximateNumberOfMessagesNotVisible", 0)),
            dead,
        )

    def _receive_dead(self, visibility_s: int, max_messages: int) -> list[dict[str, Any]]:
        assert self.dead_letter_url
        resp = self.client.receive_message(
            QueueUrl=self.dead_letter_url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            WaitTimeSeconds=1,
            VisibilityTimeout=visibility_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(resp.get("Messages") or [])

    def _release_dead(self, receipts: list[str]) -> None:
        for receipt in receipts:
            try:
                self.client.change_message_visibility(
                    QueueUrl=self.dead_letter_url, ReceiptHandle=receipt, VisibilityTimeout=0
                )
            except Exception as exc:  # it reappears when its timeout runs out anyway
                log.warning("could not release a dead letter: %s", exc)

    def _scan_dead(self, limit: int) -> list[tuple[dict[str, Any], str]]:
        """Receive up to ``limit`` dead letters, each once: they stay hidden until the caller releases or
        deletes them (SQS cannot peek; a message released at once would come straight back)."""
        found: list[tuple[dict[str, Any], str]] = []
        seen: set[str] = set()
        empty_rounds = 0
        while len(found) < limit and empty_rounds < 1:
            batch = self._receive_dead(visibility_s=120, max_messages=limit - len(found))
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                empty_rounds += 1
                continue
            for m in fresh:
                seen.add(m["MessageId"])
                found.append((m, m["ReceiptHandle"]))
        return found

    def list_dead(self, limit: int = 100) -> list[DeadLetter]:
        if not self.dead_letter_url:
            return []
        try:
            scanned = self._scan_dead(limit)
        except Exception as exc:
            raise _storage_error("receive from the dead-letter queue", exc) from exc
        letters = []
        for m, _receipt in scanned:
            attrs = {k: v.get("StringValue") for k, v in (m.get("MessageAttributes") or {}).items()}
            sysattrs = m.get("Attributes", {})
            letters.append(
                DeadLetter(
                    id=m["MessageId"],
                    body=m["Body"],
                    receive_count=int(attrs.get("receive_count") or sysattrs.get("ApproximateReceiveCount", 0)),
                    error_code=attrs.get("error_code"),
                    error_message=attrs.get("error_message"),
                    dead_at=int(sysattrs["SentTimestamp"]) / 1000 if "SentTimestamp" in sysattrs else None,
                )
            )
        self._release_dead([receipt for _m, receipt in scanned])
        return letters

    def redrive(self, ids: list[str] | None = None, limit: int | None = None) -> int:
        """Move dead letters back to the main queue: send a copy, then delete the dead one."""
        if not self.dead_letter_url:
            return 0
        wanted = set(ids or [])
        moved = 0
        keep: list[str] = []
        try:
            for m, receipt in self._scan_dead(10_000 if limit is None or wanted else limit):
                if (wanted and m["MessageId"] not in wanted) or (limit is not None and moved >= limit):
                    keep.append(receipt)
                    continue
                self.client.send_message(QueueUrl=self.url, MessageBody=m["Body"])
                self.client.delete_message(QueueUrl=self.dead_letter_url, ReceiptHandle=receipt)
                moved += 1
        except Exception as exc:
            raise _storage_error("redrive", exc) from exc
        finally:
            self._release_dead(keep)
        return moved


# ------------------------------------------------------------------------------------------- factory


def local_queue_path(settings: Settings) -> Path:
    return settings.data_dir / "queue.db"


def make_queue(settings: Settings, *, visibility_timeout_s: int | None = None) -> Queue:
    """SQS when INTAKE_QUEUE_URL is set, else the embedded SQLite queue under the data directory."""
    visibility = visibility_timeout_s or settings.visibility_timeout_s
    if settings.queue_url:
        return SqsQueue(
            settings.queue_url, dead_letter_url=settings.dead_letter_queue_url, visibility_timeout_s=visibility
        )
    private_dir(settings.data_dir, tighten=True)
    return SqliteQueue(
        local_queue_path(settings), visibility_timeout_s=visibility, max_receive_count=settings.max_receive_count
    )


def dead_letter_body(dead: DeadLetter) -> dict[str, Any]:
    """A dead letter as a plain dict (for `intake dlq list --json`)."""
    try:
        body: Any = json.loads(dead.body)
    except json.JSONDecodeError:
        body = dead.body
    return {
        "id": dead.id,
        "receive_count": dead.receive_count,
        "error_code": dead.error_code,
        "error_message": dead.error_message,
        "dead_at": dead.dead_at,
        "body": body,
    }
