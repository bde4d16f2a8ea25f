"""AWS region and S3-sourced commands (issue 17 items 2 and 11): the product's clients find the region in
AWS_REGION or in AWS_DEFAULT_REGION, each tested alone against the moto server; `intake parcels import
s3://bucket/key` streams a registry export from the bucket."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from botocore.exceptions import NoRegionError

from models.settings import Settings
from worker import aws
from worker.intake.events import WorkItem
from worker.intake.queues import make_queue
from worker.intake.sources import S3Store


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.ap-southeast-1.amazonaws.com/123456789012/land-intake", "ap-southeast-1"),
        ("https://eu-west-1.queue.amazonaws.com/123456789012/q", "eu-west-1"),
        ("https://sqs.us-gov-west-1.amazonaws.com/1/q", "us-gov-west-1"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/1/q", "cn-north-1"),
        ("http://elasticmq:9324/000000000000/intake", None),
        ("http://127.0.0.1:5000/123456789012/q", None),
        (None, None),
    ],
)
def test_region_named_by_an_aws_url(url: str | None, region: str | None) -> None:
    assert aws.region_from_url(url) == region


def test_region_variables_come_before_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://sqs.eu-west-1.amazonaws.com/1/q"
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert aws.region(url) == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert aws.region(url) == "us-west-2"
    monkeypatch.setenv("AWS_REGION", "ap-southeast-1")
    assert aws.region(url) == "ap-southeast-1"  # the variable the other AWS SDKs prefer


@pytest.fixture(params=["AWS_REGION", "AWS_DEFAULT_REGION"])
def only_one_region_variable(request: pytest.FixtureRequest, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The moto environment with the region in exactly one of the two variables."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(request.param, "us-east-1")
    return str(request.param)


def test_queue_and_bucket_work_with_either_region_variable_alone(
    only_one_region_variable: str, tmp_path: Path, unique_name
) -> None:  # type: ignore[no-untyped-def]
    if only_one_region_variable == "AWS_REGION":
        with pytest.raises(NoRegionError):
            boto3.client("sqs")  # botocore alone ignores AWS_REGION: what worker.aws is for
    queue_url = aws.client("sqs").create_queue(QueueName=unique_name("region"))["QueueUrl"]
    settings = Settings(data_dir=tmp_path, queue_url=queue_url)
    queue = make_queue(settings)
    queue.send(json.dumps({"hello": only_one_region_variable}))
    message = queue.receive(1.0)
    assert message is not None and json.loads(message.body) == {"hello": only_one_region_variable}
    bucket = unique_name("region")
    store = S3Store(bucket)
    store.client.create_bucket(Bucket=bucket)
    store.client.put_object(Bucket=bucket, Key="incoming/HS-1/a.txt", Body=b"scan bytes")
    fetched = store.fetch(WorkItem(kind="process_object", key="incoming/HS-1/a.txt", bucket=bucket), max_bytes=1000)
    assert fetched.data == b"scan bytes"


def test_cli_reaches_sqs_with_either_region_variable_alone(only_one_region_variable: str, tmp_path: Path, unique_name) -> None:  # type: ignore[no-untyped-def]
    import os

    queue_url = aws.client("sqs").create_queue(QueueName=unique_name("region"))["QueueUrl"]
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    env.update({only_one_region_variable: "us-east-1", "INTAKE_DATA_DIR": str(tmp_path), "INTAKE_QUEUE_URL": queue_url})
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "status", "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    report = json.loads(proc.stdout)
    assert "queue_error" not in report, report
    assert report["queue"]["name"] == queue_url and proc.returncode == 0


def test_parcels_import_streams_an_export_from_s3(moto_server: str, tmp_path: Path, unique_name) -> None:  # type: ignore[no-untyped-def]
    import os

    from fixtures.samples import generate

    generate(tmp_path / "set", 1, 5, decoy_parcels=30)
    bucket = unique_name("exports")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(tmp_path / "set" / "parcels.csv"), bucket, "vbdlis/2026-12/parcels.csv")
    url = f"s3://{bucket}/vbdlis/2026-12/parcels.csv"
    env = dict(os.environ, INTAKE_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "parcels", "import", url], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'intake.db'}")
    with engine.connect() as conn:
        parcels = conn.execute(sa.text("select count(*) from registry_parcels")).scalar_one()
        sources = conn.execute(sa.text("select source from registry_imports")).scalars().all()
    rows = (tmp_path / "set" / "parcels.csv").read_text(encoding="utf-8").count("\n") - 1
    assert 30 <= parcels <= rows
    assert sources == [url]  # the import is recorded by where it came from, not by a temporary file
    missing = subprocess.run(
        [sys.executable, "-m", "worker", "parcels", "import", f"s3://{bucket}/nope.csv"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 3 and "Traceback" not in missing.stderr
    assert "check the bucket, key" in missing.stderr
