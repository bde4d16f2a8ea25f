"""Fault-injection load test of the queue worker: lost and duplicated counts must both be 0.

    python -m bench load [--messages 500] [--poison 0.1] [--redeliver 0.05] [--workers 2] [--kill-at 0.5]
                         [--mode embedded|s3] [--database-url URL] [--visibility 10]

What it does:
1. makes ``--messages`` work items: small, distinct synthetic scans (real OCR, ~0.3 s each), a ``--poison``
   fraction of bad inputs (empty, corrupt PDF, decompression bomb, not an image, a message that is not even
   JSON) and a ``--redeliver`` fraction delivered twice (the same message again, or the same bytes under a
   second key);
2. ``embedded``: files in the archive + envelopes on the SQLite queue, SQLite results; ``s3``: objects put into a
   bucket on an in-process moto server whose notifications feed SQS (with a DLQ), results in PostgreSQL
   (a throwaway database on 127.0.0.1:5432 unless ``--database-url``);
3. starts ``--workers`` real worker processes and SIGKILLs one when ``--kill-at`` of the work is done (it is
   not replaced); the others drain the queue, including the killed worker's message once its visibility
   timeout runs out;
4. reconciles what was sent with what the database and the dead-letter queue hold, and prints the counts.

lost = an object with no final state (processed, duplicate or failed) that is not in the dead-letter queue,
or a bad message that was neither processed nor dead-lettered; duplicated = documents beyond one per
(submission, sha256, page, part), source-object rows beyond one per identity, documents beyond what an
object's pages produce, or proposals beyond one ranked set per submission.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import psycopg
from PIL import Image, ImageDraw
from sqlalchemy import create_engine, text

from fixtures.fonts import font
from models.messages import QueueMessage
from models.settings import Settings
from worker.intake.queues import SqsQueue, make_queue
from worker.store.migrate import open_database

POISON_KINDS = ("empty", "corrupt_pdf", "bomb", "not_an_image", "bad_message")


@dataclass
class Plan:
    files: dict[str, bytes] = field(default_factory=dict)  # key -> bytes
    expected: dict[str, str] = field(default_factory=dict)  # key -> "document" | poison kind | "duplicate"
    bad_messages: int = 0
    redeliveries: list[str] = field(default_factory=list)  # keys whose message is sent twice


def _scan(i: int, rng: random.Random) -> bytes:
    img = Image.new("RGB", (900, 300), (250, 250, 246))
    draw = ImageDraw.Draw(img)
    draw.text((40, 40), "GIẤY CHỨNG NHẬN QUYỀN SỬ DỤNG ĐẤT", font=font("serif_bold", 30), fill=(20, 20, 20))
    draw.text(
        (40, 120), f"Thửa đất số: {i}, tờ bản đồ số: {rng.randint(1, 60)}", font=font("serif", 28), fill=(20, 20, 20)
    )
    out = io.BytesIO()
    img.save(out, format="PNG", dpi=(200, 200))
    return out.getvalue()


def _bomb() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def make_plan(messages: int, poison: float, redeliver: float, seed: int) -> Plan:
    rng = random.Random(seed)
    plan = Plan()
    n_poison = round(messages * poison)
    n_redeliver = round(messages * redeliver)
    n_files = messages - n_poison - n_redeliver
    for i in range(n_files):
        key = f"L{i // 4:04d}/scan-{i:05d}.png"  # four files per submission: later ones re-match earlier ones
        plan.files[key] = _scan(i, rng)
        plan.expected[key] = "document"
    for j in range(n_poison):
        kind = POISON_KINDS[j % len(POISON_KINDS)]
        if kind == "bad_message":
            plan.bad_messages += 1
            continue
        data = {"empty": b"", "corrupt_pdf": b"%PDF-1.7\n1 0 obj <<>>\n%%broken", "bomb": _bomb()}.get(
            kind, b"PK\x03\x04 a word file"
        )
        key = f"P{j:04d}/{kind}-{j}.{'pdf' if kind == 'corrupt_pdf' else 'png' if kind == 'bomb' else 'jpg'}"
        plan.files[key] = data
        plan.expected[key] = kind
    documents = [k for k, v in plan.expected.items() if v == "document"]
    for j in range(n_redeliver):
        source = rng.choice(documents)
        if j % 2 == 0:
            plan.redeliveries.append(source)  # the very same message twice
        else:
            key = f"D{j:04d}/copy-of-{Path(source).name}"  # the same bytes uploaded again elsewhere
            plan.files[key] = plan.files[source]
            plan.expected[key] = "duplicate"
    return plan


# ------------------------------------------------------------------------------------------- backends


class Embedded:
    name = "embedded (SQLite queue + SQLite results)"

    def __init__(self, workdir: Path, visibility: int) -> None:
        self.workdir = workdir
        self.env = {
            "INTAKE_DATA_DIR": str(workdir / "data"),
            "INTAKE_VISIBILITY_TIMEOUT_S": str(visibility),
        }
        self.database_url = f"sqlite:///{(workdir / 'data' / 'intake.db').as_posix()}"

    def settings(self) -> Any:
        return Settings(_env_file=None, data_dir=self.workdir / "data")  # type: ignore[call-arg]

    def submit(self, plan: Plan) -> None:
        archive = self.workdir / "data" / "archive"
        queue = make_queue(self.settings())
        bodies = []
        for key, data in plan.files.items():
            path = archive / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            bodies.append(QueueMessage(key=key).model_dump_json())
        bodies += [QueueMessage(key=key).model_dump_json() for key in plan.redeliveries]
        bodies += [f"garbage message {i} {{" for i in range(plan.bad_messages)]
        random.Random(1).shuffle(bodies)
        for body in bodies:
            queue.send(body)

    def dead_letters(self) -> list[Any]:
        return make_queue(self.settings()).list_dead(100_000)

    def close(self) -> None:
        return


class S3Backend:
    name = "s3 (moto S3 notifications → SQS + DLQ, PostgreSQL results)"

    def __init__(self, workdir: Path, visibility: int, database_url: str | None) -> None:
        from moto.server import ThreadedMotoServer  # the dev extra; only this backend needs it

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
            AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
        )  # fmt: skip
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        self.s3 = boto3.client("s3")
        sqs = boto3.client("sqs")
        self.sqs = sqs
        suffix = uuid.uuid4().hex[:8]
        self.dlq_url = sqs.create_queue(QueueName=f"load-dlq-{suffix}")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queue_url = sqs.create_queue(
            QueueName=f"load-{suffix}",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10"})},
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.bucket = f"load-{suffix}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
        )
        self.dropdb: str | None = None
        if database_url is None:
            database_url = self._throwaway_database() or f"sqlite:///{(workdir / 'intake.db').as_posix()}"
        self.database_url = database_url
        self.env = {
            "INTAKE_DATA_DIR": str(workdir / "data"),
            "INTAKE_BUCKET": self.bucket,
            "INTAKE_QUEUE_URL": self.queue_url,
            "INTAKE_DEAD_LETTER_QUEUE_URL": self.dlq_url,
            "INTAKE_DATABASE_URL": database_url,
            "INTAKE_VISIBILITY_TIMEOUT_S": str(visibility),
            "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        }

    def _throwaway_database(self) -> str | None:
        try:
            name = f"intake_load_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(
                host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True, connect_timeout=3
            ) as c:
                c.execute(f'CREATE DATABASE "{name}"')
        except Exception as exc:
            print(f"PostgreSQL unavailable ({exc}); using SQLite", file=sys.stderr)
            return None
        self.dropdb = name
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    def submit(self, plan: Plan) -> None:
        for key, data in plan.files.items():
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        for key in plan.redeliveries:  # the notification SQS delivered twice
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
            record = {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": self.bucket}, "object": {"key": key, "eTag": head["ETag"].strip('"')}},
            }
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"Records": [record]}))
        for i in range(plan.bad_messages):
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=f"garbage message {i} {{")

    def dead_letters(self) -> list[Any]:
        return SqsQueue(self.queue_url, dead_letter_url=self.dlq_url).list_dead(100_000)

    def close(self) -> None:
        self.server.stop()
        if self.dropdb:
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{self.dropdb}" WITH (FORCE)')


# ------------------------------------------------------------------------------------------- run


def _count_done(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("select count(*) from source_objects where status in ('processed','duplicate','failed')")
                ).scalar_one()
            )
    except Exception:
        return 0
    finally:
        engine.dispose()


def reconcile(plan: Plan, database_url: str, dead: list[Any], *, s3_bucket: str | None) -> dict[str, Any]:
    objects, docs_per_object, attempts, codes, store_dupes = _store_counts(database_url)
    by_key: dict[str, list[Any]] = {}
    for row in objects:
        by_key.setdefault(row.key, []).append(row)
    dead_keys, dead_bad = _dead_keys(dead)
    status: Counter[str] = Counter()
    lost = 0
    extra_docs = 0
    wrong = 0
    for key, kind in plan.expected.items():
        rows = by_key.get(key, [])
        final = [r for r in rows if r.status in ("processed", "duplicate", "failed")]
        if not final:
            if key in dead_keys:
                status["dead_lettered"] += 1
            else:
                lost += 1
            continue
        status[final[0].status] += 1
        # a scan and its copy: whichever is read first is processed, the other linked to it
        expected_states = ("processed", "duplicate") if kind in ("document", "duplicate") else ("failed",)
        wrong += final[0].status not in expected_states
        if final[0].status == "processed":
            extra_docs += max(0, docs_per_object.get(final[0].id, 0) - 1)  # every scan here has one page
    lost += max(0, plan.bad_messages - dead_bad)
    return {
        "objects": len(plan.expected),
        "bad_messages": plan.bad_messages,
        "processed": status["processed"],
        "duplicate_linked": status["duplicate"],
        "failed_permanent": status["failed"],
        "failed_by_code": dict(codes),
        "dead_lettered": status["dead_lettered"] + dead_bad,
        "lost": lost,
        "wrong_outcome": wrong,
        "duplicated": store_dupes + extra_docs,
        "attempts": dict(sorted(attempts.items())),
    }


def _store_counts(database_url: str) -> tuple[list[Any], dict[int, int], Counter[int], Counter[str], int]:
    """What the store holds: source objects, documents per object, the job attempts and failure codes
    histograms, and the rows stored twice (documents, source objects, proposals)."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        objects = conn.execute(text("select bucket, key, version_id, status, error_code, id from source_objects")).all()
        doc_dupes = conn.execute(
            text(
                "select coalesce(sum(n - 1), 0) from (select count(*) as n from documents "
                "group by submission_id, sha256, page, part having count(*) > 1) d"
            )
        ).scalar_one()
        object_dupes = conn.execute(
            text(
                "select coalesce(sum(n - 1), 0) from (select count(*) as n from source_objects "
                "group by bucket, key, version_id having count(*) > 1) o"
            )
        ).scalar_one()
        docs_per_object: dict[int, int] = dict(
            conn.execute(text("select source_object_id, count(*) from documents group by source_object_id")).all()
        )
        proposal_dupes = conn.execute(
            text(
                "select coalesce(sum(n - 1), 0) from (select count(*) as n from proposals "
                "group by submission_id, rank having count(*) > 1) p"
            )
        ).scalar_one()
        attempts: Counter[int] = Counter(
            dict(conn.execute(text("select attempts, count(*) from jobs group by attempts")).all())
        )
        codes: Counter[str] = Counter(
            dict(
                conn.execute(
                    text("select error_code, count(*) from source_objects where status = 'failed' group by error_code")
                ).all()
            )
        )
    engine.dispose()
    return list(objects), docs_per_object, attempts, codes, int(doc_dupes) + int(object_dupes) + int(proposal_dupes)


def _dead_keys(dead: list[Any]) -> tuple[set[str], int]:
    """The object keys the dead-letter queue holds, and its messages that were not JSON."""
    dead_keys: set[str] = set()
    dead_bad = 0
    for d in dead:
        try:
            body = json.loads(d.body)
        except json.JSONDecodeError:
            dead_bad += 1
            continue
        if "key" in body:
            dead_keys.add(body["key"])
        for record in body.get("Records", []):
            dead_keys.add(unquote_plus(record["s3"]["object"]["key"]))
    return dead_keys, dead_bad


def _start_worker(backend: Any, workdir: Path, index: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, OMP_THREAD_LIMIT="1", PYTHONUNBUFFERED="1", **backend.env)
    log = open(workdir / f"worker-{index}.log", "wb")  # noqa: SIM115 - lives as long as the process
    cmd = [sys.executable, "-m", "worker.intake", "worker", "--drain", "--wait", "1", "--backoff", "0.5"]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--poison", type=float, default=0.10, help="fraction of bad inputs")
    parser.add_argument("--redeliver", type=float, default=0.05, help="fraction delivered twice")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--kill-at", type=float, default=0.5, help="SIGKILL one worker at this fraction done (0: never)"
    )
    parser.add_argument("--mode", choices=("embedded", "s3"), default="embedded")
    parser.add_argument("--database-url", default=None, help="s3 mode: results database (default: throwaway PG)")
    parser.add_argument("--visibility", type=int, default=10, help="visibility timeout, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, database)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="intake-load-"))
    print(f"work directory: {workdir}", file=sys.stderr)
    plan = make_plan(args.messages, args.poison, args.redeliver, args.seed)
    backend: Any = (
        Embedded(workdir, args.visibility)
        if args.mode == "embedded"
        else S3Backend(workdir, args.visibility, args.database_url)
    )
    try:
        open_database(backend.database_url).dispose()  # schema first: workers starting together must not race it
        backend.submit(plan)
        started = time.perf_counter()
        killed_at = _run_workers(backend, workdir, plan, args, started)
        elapsed = time.perf_counter() - started
        report = reconcile(
            plan, backend.database_url, backend.dead_letters(), s3_bucket=getattr(backend, "bucket", None)
        )
    finally:
        backend.close()
    _print_report(args, backend, plan, report, killed_at, elapsed)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if report["lost"] == 0 and report["duplicated"] == 0 else 1


def _run_workers(backend: Any, workdir: Path, plan: Plan, args: argparse.Namespace, started: float) -> float | None:
    """Worker processes until the queue is drained (or the timeout), one SIGKILLed part-way if asked; returns
    when it was killed (seconds after `started`), or None."""
    procs = [_start_worker(backend, workdir, i) for i in range(args.workers)]
    killed_at: float | None = None
    kill_target = int(len(plan.expected) * args.kill_at) if args.kill_at > 0 else None
    while any(p.poll() is None for p in procs):
        if time.perf_counter() - started > args.timeout:
            print("timeout: stopping workers", file=sys.stderr)
            for p in procs:
                p.send_signal(signal.SIGTERM)
            break
        if kill_target is not None and killed_at is None and _count_done(backend.database_url) >= kill_target:
            procs[0].send_signal(signal.SIGKILL)
            killed_at = time.perf_counter() - started
            print(f"SIGKILLed worker 0 (pid {procs[0].pid}) at {killed_at:.1f} s", file=sys.stderr)
        time.sleep(0.5)
    for p in procs:
        p.wait(timeout=120)
    return killed_at


def _print_report(
    args: argparse.Namespace, backend: Any, plan: Plan, report: dict[str, Any], killed_at: float | None, elapsed: float
) -> None:
    rows = [
        ("backend", backend.name),
        ("messages sent", f"{len(plan.files) + len(plan.redeliveries) + plan.bad_messages}"),
        ("  objects", str(report["objects"])),
        (
            "  poison (objects + bad messages)",
            f"{sum(1 for v in plan.expected.values() if v in POISON_KINDS)} + {plan.bad_messages}",
        ),
        (
            "  redelivered message / same bytes again",
            f"{len(plan.redeliveries)} / {sum(1 for v in plan.expected.values() if v == 'duplicate')}",
        ),
        (
            "workers",
            f"{args.workers}, one SIGKILLed at {killed_at:.1f} s" if killed_at is not None else str(args.workers),
        ),
        ("processed", str(report["processed"])),
        ("duplicate uploads linked", str(report["duplicate_linked"])),
        ("failed (permanent, recorded)", f"{report['failed_permanent']} {report['failed_by_code']}"),
        ("dead-lettered", str(report["dead_lettered"])),
        ("wrong outcome (scan failed / poison read)", str(report["wrong_outcome"])),
        ("LOST", str(report["lost"])),
        ("DUPLICATED", str(report["duplicated"])),
        ("job attempts histogram", str(report["attempts"])),
        ("wall time", f"{elapsed:.1f} s ({report['processed'] / elapsed:.2f} documents/s)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
