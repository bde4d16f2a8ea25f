"""The shared service fixtures really work: moto delivers S3 notifications, PostgreSQL gives a fresh DB."""

from __future__ import annotations

import json

import boto3
import sqlalchemy as sa

from worker import aws


def test_moto_server_delivers_s3_notifications_to_sqs(moto_server: str, unique_name) -> None:
    s3 = boto3.client("s3")
    sqs = aws.client("sqs")
    assert s3.meta.endpoint_url == moto_server
    bucket, queue = unique_name("bkt"), unique_name("q")
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    s3.put_object(Bucket=bucket, Key="hs-1/front.jpg", Body=b"x")
    bodies = []
    for _ in range(3):
        for m in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    events = [b.get("Event") for b in bodies if "Event" in b]
    records = [r for b in bodies for r in b.get("Records", [])]
    assert events == ["s3:TestEvent"]
    assert [r["s3"]["bucket"]["name"] for r in records] == [bucket]


def test_postgres_url_is_a_fresh_database(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        tables = conn.execute(sa.text("select count(*) from information_schema.tables where table_schema='public'"))
        assert tables.scalar_one() == 0
        assert conn.execute(sa.text("select current_database()")).scalar_one().startswith("intake_test_")
    engine.dispose()


def test_sqlite_url_points_into_tmp(sqlite_url: str, tmp_path) -> None:
    assert sqlite_url == f"sqlite:///{tmp_path.as_posix()}/intake.db"
