"""What a clerk sees of an upload: the case number and applicant typed on the form, each file's state with the
error's reason in words (and what to do), a duplicate named by the case it duplicates, and a state that
follows the submission (being read while any file is, needs attention, new scans asked for ...). Uploads in a
bucket deployment go under INTAKE_KEY_PREFIX, where the bucket notification and the worker look."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from review_env import Env, make_env

from worker.review import i18n
from worker.review.seed import seed_submission
from worker.store.db import session_scope
from worker.store.submissions import lock_submission, record_object, refresh_submission_status

pytestmark = pytest.mark.usefixtures("cheap_argon2")


def upload(env: Env, case: str, scan: bytes, name: str = "gcn.png") -> str:
    r = env.client("clerk").post(
        "/api/uploads", files=[("files", (name, scan, "image/png"))], data={"case_number": case, "applicant": "A"}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["submission_id"])


def test_each_file_says_why_it_failed_and_which_case_it_duplicates(env: Env, simple_scan: Any) -> None:
    scan = simple_scan("dup")
    first, second = upload(env, "HS2025-000001", scan), upload(env, "HS2025-000002", scan)
    bad = upload(env, "HS2025-000003", simple_scan("bad"), name="so do.png")
    with session_scope(env.engine) as s:  # what the worker records for them
        lock_submission(s, first)
        original = record_object(
            s, submission_id=first, bucket="", key=f"{first}/gcn.png", version="v", status="processed"
        )
        seed_submission(s, second, [], [])
        record_object(
            s, submission_id=second, bucket="", key=f"{second}/gcn.png", version="v", status="duplicate",
            duplicate_of=original.id,
        )  # fmt: skip
        lock_submission(s, bad)
        record_object(
            s, submission_id=bad, bucket="", key=f"{bad}/so do.png", version="v", status="failed",
            error_code="encrypted_pdf", error_message="the PDF is encrypted",
        )  # fmt: skip
        refresh_submission_status(s, bad)
    c = env.client("clerk")
    status = {u["submission_id"]: u for u in c.get("/api/uploads").json()}
    assert status[second]["files"][0]["duplicate_of"] == "HS2025-000001"
    failed = status[bad]
    assert failed["state"] == "failed" and failed["files"][0]["code"] == "encrypted_pdf"
    page = c.get("/jobs").text
    assert "Trùng tệp với HS2025-000001" in page
    assert i18n.MESSAGES["vi"]["err_encrypted_pdf"] in page and "the PDF is encrypted" not in page
    assert (
        c.post(
            "/api/uploads", files=[("files", ("a.png", scan, "image/png"))], data={"case_number": "<script>"}
        ).json()["error"]
        == "bad_case_number"
    )


def test_state_waits_for_every_file(env: Env, simple_scan: Any) -> None:
    sid = (
        env.client("clerk")
        .post(
            "/api/uploads",
            files=[
                ("files", ("a.png", simple_scan("a"), "image/png")),
                ("files", ("b.png", simple_scan("b"), "image/png")),
            ],
        )
        .json()["submission_id"]
    )
    with session_scope(env.engine) as s:
        seed_submission(s, sid, [], [])
        record_object(s, submission_id=sid, bucket="", key=f"{sid}/a.png", version="v", status="processed")
    c = env.client("clerk")
    row = next(u for u in c.get("/api/uploads").json() if u["submission_id"] == sid)
    assert row["state"] == "processing" and [f["state"] for f in row["files"]] == ["processed", "waiting"]


def test_browser_upload_goes_under_the_key_prefix(
    tmp_path: Path, sqlite_url: str, template_db: Path, moto_server: str, unique_name: Any, simple_scan: Any
) -> None:
    bucket = unique_name("review")
    boto3.client("s3").create_bucket(Bucket=bucket)
    env = make_env(tmp_path, sqlite_url, template=template_db, bucket=bucket, key_prefix="incoming/")
    sid = upload(env, "HS2025-000009", simple_scan("prefix"), name="gcn p1.png")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"incoming/{sid}/gcn p1.png"]
    status = env.client("clerk").get("/api/uploads").json()[0]
    assert status["destination"] == f"s3://{bucket}/incoming/{sid}/" and status["case_number"] == "HS2025-000009"
    env.engine.dispose()
