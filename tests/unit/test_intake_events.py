"""Queue message parsing: S3 notifications (URL-encoded keys, s3:TestEvent, SNS), our envelope, junk."""

from __future__ import annotations

import json

from models.messages import ENVELOPE_VERSION, BackfillMessage, QueueMessage
from worker.intake.events import ignore_reason, parse_body, submission_for_key


def s3_event(key: str, *, bucket: str = "scans", name: str = "ObjectCreated:Put", **obj: object) -> str:
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": name,
        "eventTime": "2025-07-01T08:00:00.000Z",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 123, **obj}},
    }
    return json.dumps({"Records": [record]})


def test_s3_event_key_is_url_decoded() -> None:
    parsed = parse_body(s3_event("HS+0001%2Fm%E1%BA%B7t+tr%C6%B0%E1%BB%9Bc+%2B+sau.jpg", eTag='"abc"'))
    assert parsed.error is None
    (item,) = parsed.items
    assert item.key == "HS 0001/mặt trước + sau.jpg"
    assert item.bucket == "scans"
    assert item.etag == "abc"
    assert item.version == "etag:abc"


def test_version_id_wins_over_etag_and_null_version_falls_back() -> None:
    (versioned,) = parse_body(s3_event("a/b.jpg", eTag="e1", versionId="v7")).items
    assert versioned.version == "v7"
    (unversioned,) = parse_body(s3_event("a/b.jpg", eTag="e1", versionId="null")).items
    assert unversioned.version == "etag:e1"
    assert versioned.job_id != unversioned.job_id


def test_same_object_twice_has_the_same_job_id() -> None:
    first = parse_body(s3_event("a/b.jpg", eTag="e1")).items[0]
    second = parse_body(s3_event("a/b.jpg", eTag="e1")).items[0]
    assert first.job_id == second.job_id
    assert first.job_id != parse_body(s3_event("a/b.jpg", eTag="e2")).items[0].job_id


def test_test_event_is_recognised() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2025-07-01T08:00:00Z", "Bucket": "x"})
    parsed = parse_body(body)
    assert parsed.test_event and not parsed.items and parsed.error is None


def test_non_create_events_are_ignored_not_errors() -> None:
    parsed = parse_body(s3_event("a/b.jpg", name="ObjectRemoved:Delete"))
    assert parsed.items == [] and parsed.error is None
    assert parsed.ignored == ["ObjectRemoved:Delete s3://scans/a/b.jpg"]


def test_sns_wrapped_s3_event() -> None:
    body = json.dumps({"Type": "Notification", "Message": s3_event("x/y.png")})
    assert [i.key for i in parse_body(body).items] == ["x/y.png"]


def test_envelope_round_trip_and_kinds() -> None:
    msg = BackfillMessage(bucket="scans", key="HS-9/a.pdf", etag="e", job_id="bf-1")
    (item,) = parse_body(msg.model_dump_json()).items
    assert (item.kind, item.bucket, item.key, item.backfill_id, item.force) == (
        "backfill",
        "scans",
        "HS-9/a.pdf",
        "bf-1",
        False,
    )
    (again,) = parse_body(QueueMessage(kind="reprocess", key="HS-9/a.pdf").model_dump_json()).items
    assert again.force and again.bucket is None
    # forced work is its own job, so it is not mistaken for the original run
    assert again.job_id != item.job_id


def test_newer_envelope_version_is_refused_not_guessed() -> None:
    body = json.dumps({"version": ENVELOPE_VERSION + 1, "kind": "teleport", "key": "a.jpg"})
    parsed = parse_body(body)
    assert parsed.newer_version == ENVELOPE_VERSION + 1 and not parsed.items and parsed.error is None


def test_junk_is_an_error() -> None:
    assert parse_body("not json").error.startswith("not JSON")
    assert parse_body("[1, 2]").error == "not a JSON object"
    assert "unknown message shape" in parse_body('{"hello": 1}').error
    assert "malformed S3 event record" in parse_body('{"Records": [{"eventName": "ObjectCreated:Put"}]}').error
    assert parse_body(json.dumps({"version": 1, "kind": "nope", "key": "k"})).error.startswith("invalid envelope")


def test_submission_grouping_rule() -> None:
    assert submission_for_key("HS-0001/front.jpg") == ("HS-0001", "HS-0001/")
    assert submission_for_key("HS-0001/scans/p2.jpg") == ("HS-0001", "HS-0001/")
    assert submission_for_key("loose.pdf") == ("loose", "")
    assert submission_for_key("incoming/HS-7/a.jpg", "incoming/") == ("HS-7", "incoming/HS-7/")


def test_ignored_keys() -> None:
    assert ignore_reason("HS-1/") == "folder marker"
    assert ignore_reason("derived/abc/p1.jpg", derived_prefix="derived/") == "derived image"
    assert ignore_reason("HS-1/.DS_Store") == "hidden file"
    assert ignore_reason("HS-1/letter.docx") is None  # read, and recorded as unsupported if it is
