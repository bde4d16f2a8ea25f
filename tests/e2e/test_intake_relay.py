"""The webhook → queue relay (MinIO's notification target) over real HTTP into SQS on the moto server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from worker import aws
from worker.intake.events import parse_body
from worker.intake.queues import SqsQueue
from worker.intake.relay import serve_relay

MINIO_EVENT = {
    "EventName": "s3:ObjectCreated:Put",
    "Key": "scans/incoming/HS-1/front.jpg",
    "Records": [
        {
            "eventVersion": "2.0",
            "eventSource": "minio:s3",
            "eventName": "s3:ObjectCreated:Put",
            "s3": {
                "bucket": {"name": "scans"},
                "object": {"key": "incoming%2FHS-1%2Ffront.jpg", "size": 1234, "eTag": "abc", "versionId": "1"},
            },
        }
    ],
}


def post(url: str, payload: object, token: str | None = None) -> tuple[int, str]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def relay(moto_server: str, unique_name):  # type: ignore[no-untyped-def]
    url = aws.client("sqs").create_queue(QueueName=unique_name("relay"))["QueueUrl"]
    queue = SqsQueue(url)
    server = serve_relay(queue, host="127.0.0.1", port=0, token="s3cret")
    yield f"http://127.0.0.1:{server.server_address[1]}/", queue
    server.shutdown()


def test_minio_webhook_event_reaches_the_queue_as_work(relay) -> None:  # type: ignore[no-untyped-def]
    endpoint, queue = relay
    status, message_id = post(endpoint, MINIO_EVENT, token="s3cret")
    assert status == 200 and message_id.strip() != "nothing to do"
    msg = queue.receive(1)
    assert msg is not None
    (item,) = parse_body(msg.body).items
    assert (item.bucket, item.key, item.version_id) == ("scans", "incoming/HS-1/front.jpg", "1")


def test_relay_refuses_bad_tokens_and_junk(relay) -> None:  # type: ignore[no-untyped-def]
    endpoint, queue = relay
    assert post(endpoint, MINIO_EVENT)[0] == 401
    assert post(endpoint, MINIO_EVENT, token="wrong")[0] == 401
    assert post(endpoint, b"not json", token="s3cret")[0] == 400
    deletion = json.loads(json.dumps(MINIO_EVENT).replace("ObjectCreated:Put", "ObjectRemoved:Delete"))
    assert post(endpoint, deletion, token="s3cret") == (200, "nothing to do\n")
    assert queue.receive(0) is None
