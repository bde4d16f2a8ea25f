"""Review app pages on SQLite: clerks' uploads (inbox and bucket), the item page on a real scan read by the
pipeline once per module (boxes, differences, the candidate's registry record, images served only from the
data folders), and presentation (language, translations, security headers, OpenAPI behind the login, the
character diff, the CLI that adds users and serves the app). Routes, roles, queue and decisions are in
test_review.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from review_env import TEMPLATES, Env, card, make_env
from sqlalchemy import select, text

from models.document import Document
from models.settings import Settings
from worker.review import i18n
from worker.review.diff import char_diff
from worker.review.seed import seed_submission, toy_proposals
from worker.store.db import session_scope
from worker.store.results import SubmissionRow
from worker.store.review import UserRow
from worker.store.submissions import record_object

pytestmark = pytest.mark.usefixtures("cheap_argon2")

# --- uploads ----------------------------------------------------------------------------------------------


def test_clerk_upload_into_inbox_and_status(env: Env, simple_scan: Any) -> None:
    c = env.client("clerk")
    scan = simple_scan("upload-1")
    files = [
        ("files", ("../../etc/sổ đỏ trang 1.png", scan, "image/png")),
        ("files", ("cccd.PDF", b"%PDF-1.4 x", "application/pdf")),
    ]
    r = c.post("/api/uploads", files=files)
    assert r.status_code == 201, r.text
    sid = r.json()["submission_id"]
    folder = env.settings.resolved_inbox_dir / sid
    assert sorted(p.name for p in folder.iterdir()) == ["cccd.pdf", "sổ đỏ trang 1.png"]
    assert (folder / "sổ đỏ trang 1.png").read_bytes() == scan
    assert not (env.settings.resolved_inbox_dir.parent / ".upload-staging" / sid).exists()
    status = c.get("/api/uploads").json()
    assert status[0]["submission_id"] == sid and status[0]["state"] == "waiting" and status[0]["uploaded_by"] == "clerk"
    # once the worker has created the submission, its status shows through
    with session_scope(env.engine) as s:
        s.add(SubmissionRow(id=sid, origin="inbox", status="processed"))
        s.flush()
        record_object(s, submission_id=sid, bucket="", key=f"{sid}/cccd.pdf", version="v", status="processed")
    assert c.get("/api/uploads").json()[0]["state"] == "processing"  # one file still to read
    with session_scope(env.engine) as s:
        record_object(s, submission_id=sid, bucket="", key=f"{sid}/sổ đỏ trang 1.png", version="v", status="processed")
    assert c.get("/api/uploads").json()[0]["state"] == "needs_attention"  # read, but nothing in the registry fits
    page = c.get("/jobs", params={"highlight": sid})
    assert page.status_code == 200 and sid in page.text
    assert (
        c.post("/api/uploads", files=[("files", ("notes.docx", b"x", "application/octet-stream"))]).json()["error"]
        == "unsupported_file"
    )
    assert c.post("/api/uploads", files=[("files", ("empty.jpg", b"", "image/jpeg"))]).json()["error"] == "empty_upload"
    assert env.client("rev").get("/upload").status_code == 200  # reviewers can upload too (roles are ordered)


def test_upload_page_form_post(env: Env, simple_scan: Any) -> None:
    c = env.client("clerk")
    token = c.headers.pop("X-CSRF-Token")
    page = c.get("/upload")
    assert 'enctype="multipart/form-data"' in page.text and 'id="dropzone"' in page.text
    r = c.post("/upload", data={"csrf_token": token}, files=[("files", ("a.png", simple_scan("p"), "image/png"))])
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs?highlight=up-")
    sid = r.headers["location"].split("=")[1]
    assert (env.settings.resolved_inbox_dir / sid / "a.png").is_file()


def test_clerk_upload_into_bucket(
    tmp_path: Path, sqlite_url: str, template_db: Path, moto_server: str, unique_name: Any, simple_scan: Any
) -> None:
    import boto3

    bucket = unique_name("review")
    boto3.client("s3").create_bucket(Bucket=bucket)
    e = make_env(tmp_path, sqlite_url, template=template_db, bucket=bucket)
    scan = simple_scan("s3")
    r = e.client("clerk").post("/api/uploads", files=[("files", ("gcn p1.png", scan, "image/png"))])
    assert r.status_code == 201, r.text
    sid = r.json()["submission_id"]
    assert r.json()["destination"] == f"s3://{bucket}/{sid}/"
    obj = boto3.client("s3").get_object(Bucket=bucket, Key=f"{sid}/gcn p1.png")
    assert obj["Body"].read() == scan
    assert not e.settings.resolved_inbox_dir.exists() or not any(e.settings.resolved_inbox_dir.iterdir())


# --- item page on a real scan -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One generated chip/2024 ID card front, read by the real pipeline (the slow part, done once)."""
    import cv2

    from fixtures.samples import generate
    from worker.pipeline import read_file
    from worker.review.seed import read_registry_csv

    out = tmp_path_factory.mktemp("samples")
    generate(out, 3, seed=5, decoy_parcels=5, degrade=False)
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    sub = next(t for t in truth if any(d["doc_type"] == "cccd_front" and d["part"] is None for d in t["documents"]))
    doc_truth = next(d for d in sub["documents"] if d["doc_type"] == "cccd_front")
    path = out / doc_truth["file"]
    result = read_file(path.read_bytes(), path.name, settings=Settings(), keep_pages=True)
    assert result.documents, result.errors
    ok, jpg = cv2.imencode(".jpg", result.pages[0].image)
    assert ok
    registry = {r["parcel_id"]: r for r in read_registry_csv(out / "parcels.csv")}
    return {
        "samples": out,
        "document": result.documents[0],
        "image": jpg.tobytes(),
        "truth": doc_truth["fields"],
        "true_row": registry.get(sub["parcel_id"]),
        "decoy_row": next(r for pid, r in registry.items() if pid != sub["parcel_id"]),
    }


def test_item_page_shows_real_scan_boxes_and_differences(env: Env, real_scan: dict[str, Any]) -> None:
    e = env
    doc: Document = real_scan["document"]
    true_row = dict(real_scan["true_row"] or real_scan["decoy_row"])
    # the registry spells the name without diacritics (a dirty registry): a diacritic-only difference
    true_row["owner_name"] = true_row["owner_name"] and re.sub(r"[^\x00-\x7f]", "?", true_row["owner_name"])
    derived = e.settings.data_dir / "derived"
    derived.mkdir(parents=True)
    (derived / "real-0.jpg").write_bytes(real_scan["image"])
    with session_scope(e.engine) as s:
        proposals = toy_proposals([doc], [true_row, real_scan["decoy_row"]], prior_weight=-2)
        seed_submission(s, "S-REAL", [doc], proposals, image_keys={0: "derived/real-0.jpg"}, commune_code="19789")
    c = e.client("rev")
    item = c.get("/api/items/S-REAL").json()
    fields = {f["name"]: f for f in item["documents"][0]["fields"]}
    # the pipeline read the printed values, and says where
    assert fields["id_number"]["value"] == real_scan["truth"]["id_number"]
    assert fields["full_name"]["value"] == real_scan["truth"]["full_name"]
    assert all(len(fields[n]["box"]) == 4 for n in ("id_number", "full_name"))
    ev = {x["field"]: x for x in item["candidates"][0]["evidence"]}
    name_diff = ev["owner_name"]
    assert not name_diff["equal"] and any(seg["kind"] != "same" for seg in name_diff["record_diff"])
    page = c.get("/items/S-REAL")
    assert page.status_code == 200
    doc_id = item["documents"][0]["id"]
    assert f'src="/items/S-REAL/documents/{doc_id}/image"' in page.text
    box = fields["full_name"]["box"]
    assert (
        f'id="b{doc_id}-0-full_name" data-field="full_name" data-owner="0" '
        f'x="{box[0]}" y="{box[1]}" width="{box[2]}" height="{box[3]}"'
    ) in page.text
    assert 'class="d-changed"' in page.text or 'class="d-missing"' in page.text
    img = c.get(f"/items/S-REAL/documents/{doc_id}/image")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert img.content == real_scan["image"]
    assert c.get(f"/items/S-REV-1/documents/{doc_id}/image").status_code == 404  # not this item's document


def test_item_shows_the_candidates_current_registry_record(env: Env, real_scan: dict[str, Any]) -> None:
    registry = pytest.importorskip("worker.store.registry")
    registry.import_csv(real_scan["samples"] / "parcels.csv", env.engine)
    row = real_scan["true_row"] or real_scan["decoy_row"]
    with session_scope(env.engine) as s:
        seed_submission(s, "S-REG", [real_scan["document"]], toy_proposals([real_scan["document"]], [row]))
    c = env.client("rev")
    record = c.get("/api/items/S-REG").json()["candidates"][0]["record"]
    assert record["parcel_id"] == row["parcel_id"]
    assert record["map_sheet_number"] == int(row["map_sheet_number"])
    assert record["owners"] and all(o["owner_id"] for o in record["owners"])
    page = c.get("/items/S-REG")
    assert i18n.MESSAGES["vi"]["registry_record"] in page.text and row["parcel_id"] in page.text


def test_image_never_served_from_outside_the_data_folders(env: Env, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8 not for you")
    with session_scope(env.engine) as s:
        seed_submission(s, "S-EVIL", [card("e.jpg", "X", "046000000002", sha="f")], [], image_keys={0: str(secret)})
        doc_id = s.scalar(select(text("id")).select_from(text("documents")).where(text("submission_id = 'S-EVIL'")))
    assert env.client("rev").get(f"/items/S-EVIL/documents/{doc_id}/image").status_code == 404


# --- presentation -----------------------------------------------------------------------------------------


def test_vietnamese_by_default_english_on_request(env: Env) -> None:
    c = env.client("rev")
    assert "Hàng chờ" in c.get("/queue").text
    r = c.get("/lang/en", params={"next": "/queue"})
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    page = c.get("/queue")
    assert "Take next item" in page.text and 'lang="en"' in page.text
    with session_scope(env.engine) as s:
        assert s.scalar(select(UserRow.lang).where(UserRow.name == "rev")) == "en"


def test_every_template_text_is_translated() -> None:
    used: set[str] = set()
    prefixed: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        src = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bt\('([a-z0-9_]+)'[,)]", src))
        prefixed |= set(re.findall(r"\bt\('([a-z0-9_]+)' ~", src))
    assert used and prefixed
    for lang in ("vi", "en"):
        missing = sorted(k for k in used if k not in i18n.MESSAGES[lang])
        assert not missing, (lang, missing)
        for prefix in prefixed:
            assert any(k.startswith(prefix) for k in i18n.MESSAGES[lang]), (lang, prefix)
    assert set(i18n.MESSAGES["vi"]) == set(i18n.MESSAGES["en"])
    for action in i18n.AUDIT_ACTIONS:
        assert f"action_{action}" in i18n.MESSAGES["vi"]


def test_security_headers_and_no_store(env: Env) -> None:
    r = env.client("rev").get("/queue")
    assert r.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    static = TestClient(env.app).get("/static/app.js")
    assert static.status_code == 200 and "keydown" in static.text  # static assets need no login


def test_char_diff_after_normalisation() -> None:
    same = char_diff("Nguyễn  Văn Hoà", "NGUYỄN VĂN HÒA")
    assert same[2] is True  # case, spacing and tone placement are not differences
    left, right, equal = char_diff("NGUYÊN VĂN AN", "NGUYỄN VĂN AN")
    assert not equal and [s.kind for s in left] == ["same", "diacritic", "same"]
    assert "".join(s.text for s in right) == "NGUYỄN VĂN AN"
    left, right, _ = char_diff("046090012345", "191234567")  # mostly different: one block, not confetti
    assert [(s.text, s.kind) for s in left] == [("046090012345", "changed")]
    assert [(s.text, s.kind) for s in right] == [("191234567", "changed")]
    left, right, _ = char_diff("CS 123456", "CS 123465")  # a near miss shows exactly where
    assert [(s.text, s.kind) for s in left] == [("CS 12345", "same"), ("6", "missing")]
    assert [(s.text, s.kind) for s in right] == [("CS 1234", "same"), ("6", "missing"), ("5", "same")]
    left, right, _ = char_diff("TRẦN THỊ BÌNH", None)
    assert [s.kind for s in left] == ["missing"] and right == []
    _l, _r, equal = char_diff(125.0, "125")
    assert equal


def test_cli_users_add_and_review_serve(tmp_path: Path, sqlite_url: str) -> None:
    """The real commands in subprocesses: add an admin with a piped password, serve, log in over HTTP."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    env = {
        **os.environ,
        "INTAKE_DATA_DIR": str(tmp_path / "data"),
        "INTAKE_DATABASE_URL": sqlite_url,
        "INTAKE_SESSION_SECRET": "c" * 48,
    }
    added = subprocess.run(
        [sys.executable, "-m", "worker", "users", "add", "lan", "--role", "admin"],
        input="một mật khẩu dài\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "review", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "review serve did not come up"
            time.sleep(0.2)
        with httpx.Client(base_url=base) as c:
            assert c.get("/queue").status_code == 303
            token = c.get("/api/session").json()["csrf_token"]
            r = c.post(
                "/api/session", json={"name": "lan", "password": "một mật khẩu dài"}, headers={"X-CSRF-Token": token}
            )
            assert r.status_code == 200 and r.json()["user"]["role"] == "admin"
            assert "Hàng chờ" in c.get("/queue").text
    finally:
        proc.terminate()
        proc.wait(20)
