"""`intake backfill`: resume, --enqueue, local processing and the report (listing: test_backfill_listing.py).

Real services throughout: the moto server for S3/SQS, PostgreSQL for the results, real scans through the
real pipeline. The only fault injected is the operator's Ctrl-C (a stop event set mid-run)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import boto3
import pytest

from models.messages import BackfillMessage
from worker import aws
from worker.intake import backfill as bf
from worker.intake.events import parse_body, submission_for_key


def _touch(root: Path, rel: str, data: bytes = b"x") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ------------------------------------------------------------------------------------------- enqueue


class _CountingSqs:
    """The real client, with its SendMessageBatch calls counted."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.batch_sizes: list[int] = []

    def send_message_batch(self, **kwargs):  # type: ignore[no-untyped-def]
        self.batch_sizes.append(len(kwargs["Entries"]))
        return self.client.send_message_batch(**kwargs)


def _drain(sqs, queue_url: str) -> list[str]:  # type: ignore[no-untyped-def]
    bodies: list[str] = []
    empty = 0
    while empty < 2:
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        empty = empty + 1 if not msgs else 0
        for m in msgs:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def test_enqueue_sends_one_versioned_envelope_per_object_in_batches_of_ten(moto_server: str, unique_name) -> None:
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique_name("bfq"))["QueueUrl"]
    objects = [
        bf.SourceObject("scans", f"in/hs-{i // 3}/p{i}.jpg", f"hs-{i // 3}", 100 + i, f"etag{i}", f"v{i}")
        for i in range(23)
    ]
    counting = _CountingSqs(sqs)
    messages = bf.backfill_messages(objects, job_id="job-1", pipeline_version="9.9", force=True)
    assert bf.enqueue(messages, counting, queue_url) == 23
    assert counting.batch_sizes == [10, 10, 3]
    bodies = _drain(sqs, queue_url)
    assert len(bodies) == 23
    envelopes = [BackfillMessage.model_validate_json(b) for b in bodies]
    assert sorted(e.key for e in envelopes) == sorted(o.key for o in objects)
    assert len({e.message_id for e in envelopes}) == 23
    by_key = {o.key: o for o in objects}
    for env in envelopes:
        obj = by_key[env.key]
        assert (env.version, env.kind, env.job_id, env.pipeline_version, env.force) == (
            1,
            "backfill",
            "job-1",
            "9.9",
            True,
        )
        assert (env.bucket, env.etag, env.version_id, env.submission_id) == (
            "scans",
            obj.etag,
            obj.version_id,
            obj.submission_id,
        )
    # and the worker fleet's parser reads them as backfill work on the same object
    parsed = parse_body(bodies[0])
    assert parsed.error is None and len(parsed.items) == 1
    item = parsed.items[0]
    assert (item.kind, item.backfill_id, item.force) == ("backfill", "job-1", True)
    assert item.key == envelopes[0].key


def test_enqueue_stops_between_batches_when_asked(moto_server: str, unique_name) -> None:
    import threading

    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique_name("bfq"))["QueueUrl"]
    stop = threading.Event()
    objects = [bf.SourceObject("b", f"hs-{i}/a.jpg", f"hs-{i}") for i in range(35)]

    def progress(n: int) -> None:
        stop.set()  # Ctrl-C during the first batch

    sent = bf.enqueue(
        bf.backfill_messages(objects, job_id="j", pipeline_version="1"), sqs, queue_url, progress=progress, stop=stop
    )
    assert sent == 10
    assert len(_drain(sqs, queue_url)) == 10


# ------------------------------------------------------------------------------------------- resume


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """A small archive: generated submissions (cards, certificate pages, a PDF), plus a corrupt JPEG, an
    empty file, and one scan copied into another submission (a duplicate upload)."""
    from fixtures.samples import generate

    out = tmp_path_factory.mktemp("gen")
    generate(out, 3, 21, decoy_parcels=500)
    root = tmp_path_factory.mktemp("archive")
    for sub in sorted((out / "submissions").iterdir()):
        for f in sorted(sub.iterdir()):
            _touch(root, f"{sub.name}/{f.name}", f.read_bytes())
    first = sorted(root.rglob("*.jpg"))[0]
    _touch(root, "S0090/broken.jpg", first.read_bytes()[: len(first.read_bytes()) // 3])
    _touch(root, "S0090/empty.png", b"")
    _touch(root, "S0091/copy.jpg", first.read_bytes())
    return root


@pytest.fixture(scope="module")
def module_pg() -> object:
    """One throwaway PostgreSQL database for the module's end-to-end runs (they build on each other)."""
    import uuid

    import psycopg

    try:
        admin = psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True, connect_timeout=3
        )
    except Exception as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    name = f"intake_test_bf_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')  # as conftest's postgres_url
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(db_url: str, data_dir: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update(INTAKE_DATABASE_URL=db_url, INTAKE_DATA_DIR=str(data_dir), INTAKE_LOG_LEVEL="WARNING")
    return env


def _objects(db_url: str) -> list[tuple[str, str, str | None]]:
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select key, status, pipeline_version from source_objects order by key")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


@pytest.fixture(scope="module")
def interrupted_then_resumed(archive: Path, module_pg: str, tmp_path_factory) -> dict:  # type: ignore[no-untyped-def]
    """Run the real CLI with 2 workers, press Ctrl-C (SIGINT to its process group, as a terminal does)
    once the first file is stored, then run the same command again to the end."""
    import os
    import signal
    import subprocess
    import sys
    import time

    data_dir = tmp_path_factory.mktemp("data")
    reports = tmp_path_factory.mktemp("reports")
    cmd = [sys.executable, "-m", "worker", "backfill", str(archive), "--workers", "2"]
    first = subprocess.Popen(
        [*cmd, "--report-json", str(reports / "r1.json")],
        env=_env(module_pg, data_dir),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240  # a safety net against a hang, not a timing assertion
    while time.monotonic() < deadline and first.poll() is None:
        try:
            if any(status != "received" for _, status, _ in _objects(module_pg)):
                break
        except Exception:
            pass  # the schema is being created
        time.sleep(0.2)
    assert first.poll() is None, first.communicate()
    os.killpg(first.pid, signal.SIGINT)
    _, err1 = first.communicate(timeout=240)
    after_first = _objects(module_pg)
    second = subprocess.run(
        [*cmd, "--report-json", str(reports / "r2.json"), "--report-csv", str(reports / "r2.csv")],
        env=_env(module_pg, data_dir),
        capture_output=True,
        timeout=600,
    )
    return {
        "rc1": first.returncode,
        "rc2": second.returncode,
        "err": err1.decode() + second.stderr.decode(),
        "r1": json.loads((reports / "r1.json").read_text()),
        "r2": json.loads((reports / "r2.json").read_text()),
        "csv": (reports / "r2.csv").read_text(),
        "after_first": after_first,
        "db": module_pg,
        "data_dir": data_dir,
    }


def test_resume_after_interruption_processes_nothing_twice(interrupted_then_resumed: dict, archive: Path) -> None:
    import sqlalchemy as sa

    run = interrupted_then_resumed
    r1, r2 = run["r1"], run["r2"]
    assert run["rc1"] == 130, run["err"]
    assert r1["interrupted"] is True
    assert run["rc2"] == 0, run["err"]
    assert r2["interrupted"] is False
    total = sum(1 for p in archive.rglob("*") if p.is_file())
    assert r1["listed_objects"] == r2["listed_objects"] == total
    # the interruption left work undone, and every object it touched was recorded to the end
    done_first = [k for k, status, _ in run["after_first"] if status != "received"]
    assert 1 <= r1["attempted_objects"] == len(done_first) < total
    assert all(status != "received" for _, status, _ in run["after_first"])
    # the second run skipped exactly those and did the rest
    assert r2["skipped_objects"] == len(done_first)
    assert r2["attempted_objects"] == total - len(done_first)
    engine = sa.create_engine(run["db"])
    with engine.connect() as conn:
        jobs = conn.execute(sa.text("select key, attempts, backfill_id from jobs")).all()
        per_key = conn.execute(sa.text("select key, count(*) from source_objects group by key")).all()
        docs = conn.execute(
            sa.text("select submission_id, sha256, page, part, count(*) from documents group by 1, 2, 3, 4")
        ).all()
    engine.dispose()
    # one job per object, each attempted once, by the run that did it
    assert sorted(k for k, _, _ in jobs) == sorted(o.key for o in bf.list_objects(bf.parse_source(str(archive))))
    assert {a for _, a, _ in jobs} == {1}
    by_run = {k: b for k, _, b in jobs}
    assert {by_run[k] for k in done_first} == {r1["job_id"]}
    assert {b for k, b in by_run.items() if k not in done_first} == {r2["job_id"]}
    assert {n for _, n in per_key} == {1}
    assert docs and {n for *_, n in docs} == {1}


def test_report_counts_match_the_database(interrupted_then_resumed: dict) -> None:
    import sqlalchemy as sa

    r2 = interrupted_then_resumed["r2"]
    engine = sa.create_engine(interrupted_then_resumed["db"])
    with engine.connect() as conn:

        def counts(sql: str) -> dict[str, int]:
            return {str(k): int(n) for k, n in conn.execute(sa.text(sql)).all()}

        assert r2["objects_by_status"] == counts("select status, count(*) from source_objects group by status")
        assert r2["submissions_by_status"] == counts("select status, count(*) from submissions group by status")
        assert r2["documents_by_type"] == counts("select doc_type, count(*) from documents group by doc_type")
        assert r2["errors_by_code"] == counts("select code, count(*) from document_errors group by code")
        assert r2["proposals_by_band"] == counts("select band, count(*) from proposals group by band")
        assert r2["best_band_by_submission"] == counts(
            "select coalesce(best_band, 'no_proposal'), count(*) from submissions group by 1"
        )
        by_type_status = conn.execute(
            sa.text(
                "select d.doc_type, s.review_status, count(*) from documents d "
                "join submissions s on s.id = d.submission_id group by 1, 2"
            )
        ).all()
    engine.dispose()
    assert {(t, s): n for t, by in r2["documents_by_type_and_status"].items() for s, n in by.items()} == {
        (t, s): n for t, s, n in by_type_status
    }
    # the bad inputs are there with their stable codes, the duplicate upload was linked, not re-read
    assert r2["errors_by_code"].get("empty_file") == 1
    assert r2["errors_by_code"].get("corrupt_image") == 1
    assert r2["objects_by_status"].get("duplicate") == 1
    assert sum(r2["objects_by_status"].values()) == r2["listed_objects"]
    # the run-side numbers: every failed file is listed with its code
    failed_now = {f["file"]: f["error_code"] for f in r2["failed"]}
    failed_before = interrupted_then_resumed["r1"]["failed"]
    assert len(failed_now) + len(failed_before) == r2["objects_by_status"].get("failed", 0)
    assert set(failed_now.values()) <= {"empty_file", "corrupt_image"}
    assert r2["pages"] > 0 and r2["pages_per_second"] > 0
    assert len(r2["slowest"]) == min(10, r2["attempted_objects"])
    assert r2["slowest"] == sorted(r2["slowest"], key=lambda o: o["seconds"], reverse=True)
    assert all(mb > 0 for mb in r2["peak_rss_mb_by_worker"].values())
    # the CSV carries the same numbers
    rows = list(csv.reader(io.StringIO(interrupted_then_resumed["csv"])))
    assert rows[0] == ["section", "key", "value"]
    assert {(k, int(v)) for s, k, v in rows[1:] if s == "documents_by_type"} == set(r2["documents_by_type"].items())


def test_reprocess_reads_old_results_again_only_for_a_new_pipeline_version(
    interrupted_then_resumed: dict, archive: Path
) -> None:
    from worker.pipeline import PIPELINE_VERSION
    from worker.store.db import make_engine

    engine = make_engine(interrupted_then_resumed["db"])
    objects = list(bf.list_objects(bf.parse_source(str(archive))))
    todo, done = bf.plan(objects, engine, pipeline_version=PIPELINE_VERSION, root=archive)
    assert (len(todo), len(done)) == (0, len(objects))
    todo, done = bf.plan(objects, engine, pipeline_version=PIPELINE_VERSION, reprocess=True, root=archive)
    assert (len(todo), len(done)) == (0, len(objects))  # a resumed --reprocess skips what it already redid
    todo, done = bf.plan(objects, engine, pipeline_version="next-version", reprocess=True, root=archive)
    assert (len(todo), len(done)) == (len(objects), 0)
    # a file whose bytes changed under the same name is new work, even without --reprocess
    changed = archive / "S0091" / "copy.jpg"
    original = changed.read_bytes()
    try:
        changed.write_bytes(original + b"\0")  # a new size: new work without hashing
        grown = list(bf.list_objects(bf.parse_source(str(archive))))
        todo, _ = bf.plan(grown, engine, pipeline_version=PIPELINE_VERSION, root=archive)
        assert [o.key for o in todo] == ["S0091/copy.jpg"]
        changed.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # same size, other bytes: the hash tells
        same_size = list(bf.list_objects(bf.parse_source(str(archive))))
        todo, _ = bf.plan(same_size, engine, pipeline_version=PIPELINE_VERSION, root=archive)
        assert [o.key for o in todo] == ["S0091/copy.jpg"]
    finally:
        changed.write_bytes(original)
    engine.dispose()


# ------------------------------------------------------------------------------------------- CLI, S3


def _invoke(args: list[str], db_url: str, data_dir: Path, monkeypatch) -> dict:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from models.settings import get_settings
    from worker.cli import cli

    monkeypatch.setenv("INTAKE_DATABASE_URL", db_url)
    monkeypatch.setenv("INTAKE_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    report = data_dir / "report.json"
    try:
        result = CliRunner().invoke(cli, ["backfill", *args, "--report-json", str(report)], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return json.loads(report.read_text())


def test_s3_prefix_is_processed_locally_resumed_by_etag_and_reprocessed(
    moto_server: str, unique_name, archive: Path, postgres_url: str, tmp_path: Path, monkeypatch
) -> None:
    import sqlalchemy as sa

    s3 = boto3.client("s3")
    bucket = unique_name("scans")
    s3.create_bucket(Bucket=bucket)
    card = next(p for p in sorted(archive.rglob("*.jpg")) if "cccd" in p.name)
    s3.put_object(Bucket=bucket, Key="2019/hs-7/card.jpg", Body=card.read_bytes())
    s3.put_object(Bucket=bucket, Key="2019/hs-7/broken.jpg", Body=card.read_bytes()[:5000])
    s3.put_object(Bucket=bucket, Key="2020/hs-8/other.jpg", Body=card.read_bytes())  # outside the prefix

    first = _invoke([f"s3://{bucket}/2019/"], postgres_url, tmp_path, monkeypatch)
    assert (first["listed_objects"], first["listed_submissions"], first["skipped_objects"]) == (2, 1, 0)
    assert (first["processed_objects"], first["failed_objects"]) == (1, 1)
    assert first["failed"][0]["file"] == f"s3://{bucket}/2019/hs-7/broken.jpg"
    assert first["failed"][0]["error_code"] == "corrupt_image"
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select bucket, key, version_id, status, submission_id from source_objects")).all()
        image_keys = conn.execute(sa.text("select image_key from documents")).scalars().all()
    engine.dispose()
    etags = {
        k: s3.head_object(Bucket=bucket, Key=k)["ETag"].strip('"')
        for k in ("2019/hs-7/card.jpg", "2019/hs-7/broken.jpg")
    }
    assert sorted(rows) == [
        (bucket, "2019/hs-7/broken.jpg", "etag:" + etags["2019/hs-7/broken.jpg"], "failed", "hs-7"),
        (bucket, "2019/hs-7/card.jpg", "etag:" + etags["2019/hs-7/card.jpg"], "processed", "hs-7"),
    ]
    # review images went next to the scans, under the derived prefix
    assert image_keys and all(k.startswith(f"s3://{bucket}/derived/") for k in image_keys)
    again = _invoke([f"s3://{bucket}/2019/"], postgres_url, tmp_path, monkeypatch)
    assert (again["skipped_objects"], again["attempted_objects"]) == (2, 0)
    # --reprocess under the same pipeline version has nothing to do; under a new one it re-reads both,
    # replacing the documents instead of adding to them
    same = _invoke([f"s3://{bucket}/2019/", "--reprocess"], postgres_url, tmp_path, monkeypatch)
    assert (same["skipped_objects"], same["attempted_objects"]) == (2, 0)
    monkeypatch.setattr("worker.pipeline.PIPELINE_VERSION", "next-version")
    redone = _invoke([f"s3://{bucket}/2019/", "--reprocess"], postgres_url, tmp_path, monkeypatch)
    assert (redone["skipped_objects"], redone["processed_objects"], redone["failed_objects"]) == (0, 1, 1)
    assert redone["documents_by_type"] == first["documents_by_type"]
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        versions = conn.execute(sa.text("select distinct pipeline_version from source_objects")).scalars().all()
        doc_versions = conn.execute(sa.text("select distinct pipeline_version from documents")).scalars().all()
    engine.dispose()
    assert versions == doc_versions == ["next-version"]
    # an overwritten object has a new ETag: it is new work
    s3.put_object(Bucket=bucket, Key="2019/hs-7/broken.jpg", Body=b"still not an image")
    third = _invoke([f"s3://{bucket}/2019/", "--dry-run"], postgres_url, tmp_path, monkeypatch)
    assert (third["skipped_objects"], third["attempted_objects"]) == (1, 0)


def test_cli_enqueue_sends_one_message_per_object_not_yet_done(
    moto_server: str, unique_name, postgres_url: str, tmp_path: Path, monkeypatch
) -> None:
    from sqlalchemy.orm import Session

    from worker.store.migrate import open_database
    from worker.store.submissions import lock_submission, object_version, record_object

    s3 = boto3.client("s3")
    sqs = aws.client("sqs")
    bucket = unique_name("scans")
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=unique_name("bfq"))["QueueUrl"]
    keys = [f"in/hs-{i // 4}/p{i}.jpg" for i in range(25)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    # three objects were handled already (by the live worker, say)
    engine = open_database(postgres_url)
    with Session(engine) as s, s.begin():
        for key in keys[:3]:
            etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
            lock_submission(s, submission_for_key(key, "in/")[0], origin="s3", bucket=bucket)
            record_object(
                s, submission_id=submission_for_key(key, "in/")[0], bucket=bucket, key=key,
                version=object_version(etag=etag.strip('"')), etag=etag, status="processed", pipeline_version="0",
            )  # fmt: skip
    engine.dispose()
    report = _invoke([f"s3://{bucket}/in/", "--enqueue", "--queue-url", queue_url], postgres_url, tmp_path, monkeypatch)
    assert (report["mode"], report["skipped_objects"], report["enqueued_messages"]) == ("enqueue", 3, 22)
    bodies = _drain(sqs, queue_url)
    envelopes = [BackfillMessage.model_validate_json(b) for b in bodies]
    assert sorted(e.key for e in envelopes) == sorted(keys[3:])
    assert {e.job_id for e in envelopes} == {report["job_id"]}
    for env in envelopes:
        assert env.kind == "backfill" and env.bucket == bucket and env.version == 1
        assert env.etag == s3.head_object(Bucket=bucket, Key=env.key)["ETag"].strip('"')
        assert env.submission_id == submission_for_key(env.key, "in/")[0]


def test_enqueue_of_a_local_folder_needs_the_inbox(
    moto_server: str, unique_name, archive: Path, postgres_url: str, tmp_path: Path, monkeypatch
) -> None:
    import hashlib

    from click.testing import CliRunner

    from models.settings import get_settings
    from worker.cli import cli

    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique_name("bfq"))["QueueUrl"]
    monkeypatch.setenv("INTAKE_DATABASE_URL", postgres_url)
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(cli, ["backfill", str(archive), "--enqueue", "--queue-url", queue_url])
        assert refused.exit_code == 2 and "inbox" in refused.output
        inbox = tmp_path / "inbox"
        card = next(p for p in sorted(archive.rglob("*.jpg")))
        _touch(inbox, "hs-5/card.jpg", card.read_bytes())
        ok = CliRunner().invoke(cli, ["backfill", str(inbox), "--enqueue", "--queue-url", queue_url])
        assert ok.exit_code == 0, ok.output
    finally:
        get_settings.cache_clear()
    (body,) = _drain(sqs, queue_url)
    env = BackfillMessage.model_validate_json(body)
    # the inbox's own identity: the key under the inbox and the content hash, as the watcher sends them
    assert (env.bucket, env.key, env.submission_id) == (None, "hs-5/card.jpg", "hs-5")
    assert env.version_id == "sha256:" + hashlib.sha256(card.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------- benchmark


@pytest.mark.slow
def test_throughput_benchmark_measures_every_run_on_the_same_pages(tmp_path: Path) -> None:
    from bench.throughput import measure

    summary = measure(
        ["--submissions", "2", "--seed", "5", "--no-naive-threads", "--profile-pages", "2", "--engine-crops", "2"]
    )
    runs = summary["runs"]
    assert len(runs) == 3
    assert len({r["pages"] for r in runs.values()}) == 1  # every run is charged for the same pages
    assert all(r["core_s_per_page"] > 0 and r["pages_per_s"] > 0 for r in runs.values())
    naive, one = (r["core_s_per_page"] for name, r in runs.items() if "(a)" in name or "(b)" in name)
    assert summary["core_ratio"] == pytest.approx(one / naive)
    assert 0 < summary["rss_max_mb"] < 4096
    assert set(summary["projection_hours"]) == {2, 8, 32, 64}
