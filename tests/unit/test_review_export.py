"""The export cycle: what the reviewer saw is what is exported (a correction belongs to the candidate it was
made on), auto-accepted matches are exported too, a change is marked sent once and never sent again, and
`intake export` writes CSV (UTF-8 with BOM), JSON and XLSX (read back here with openpyxl, an independent
reader)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from review_env import Env, card, proposal
from sqlalchemy import select, update

from models.document import Document, FieldValue
from models.proposal import Evidence, ProposedUpdate
from worker.review import i18n
from worker.review.seed import seed_submission
from worker.store.db import session_scope
from worker.store.results import SubmissionRow, utcnow
from worker.store.review import AuditRow, ReviewQueueRow
from worker.store.worklist import ExportBatchRow, ExportSentRow

pytestmark = pytest.mark.usefixtures("cheap_argon2")


def rows_of(env: Env, **params: Any) -> list[dict[str, Any]]:
    r = env.client("boss").post("/api/export", params={"format": "json", **params})
    assert r.status_code == 200, r.text
    return list(r.json())


def serial_candidates(env: Env) -> None:
    """A certificate whose serial the reviewer corrects under candidate #1 before accepting #2."""
    evidence = [
        Evidence(field="certificate_serial", scanned="AB 99720723", record="AB 99720723", agreement="exact", weight=9.4)
    ]
    second = [
        Evidence(
            field="certificate_serial", scanned="AB 99720723", record="AB 99720728", agreement="ocr_close", weight=2.0
        )
    ]
    gcn = Document(
        source="S-SER/gcn.jpg",
        sha256="9" * 64,
        doc_type="gcn_page1",
        fields={"certificate_serial": FieldValue(value="AB 99720723", confidence=0.7, box=[10, 10, 100, 20])},
    )
    with session_scope(env.engine) as s:
        seed_submission(
            s,
            "S-SER",
            [gcn],
            [
                proposal("TD0100", 0.9, "review", evidence=evidence, proposed_updates=[]),
                proposal("TD0101", 0.6, "review", evidence=second, proposed_updates=[]),
            ],
        )


def test_a_correction_belongs_to_the_candidate_it_was_made_on(env: Env) -> None:
    serial_candidates(env)
    c = env.client("rev")
    r = c.post("/api/items/S-SER/corrections", json={"field": "certificate_serial", "value": "DM 999999", "rank": 1})
    assert r.status_code == 200
    cands = {x["rank"]: x for x in c.get("/api/items/S-SER").json()["candidates"]}
    first = {e["field"]: e for e in cands[1]["evidence"]}["certificate_serial"]
    # the corrected row no longer says "exact +9.4": it compares the corrected value and was not weighed
    assert first["scanned"] == "DM 999999" and first["agreement"] == "corrected_differs" and first["weight"] is None
    assert cands[1]["corrected"] and cands[1]["updates"] == [
        {
            "field": "certificate_serial",
            "owner_index": None,
            "record_value": "AB 99720723",
            "scanned_value": "DM 999999",
            "reason": "reviewer_correction",
        }
    ]
    second = {e["field"]: e for e in cands[2]["evidence"]}["certificate_serial"]
    assert second["scanned"] == "AB 99720723" and second["agreement"] == "ocr_close" and cands[2]["updates"] == []
    assert c.post("/api/items/S-SER/decisions", json={"action": "accept", "rank": 2}).status_code == 200
    exported = [x for x in rows_of(env) if x["submission_id"] == "S-SER"]
    assert [(x["parcel_id"], x["change"], x["field"]) for x in exported] == [("TD0101", "confirm", "")]


def test_corrected_value_equal_to_the_registry_removes_the_update(env: Env) -> None:
    c = env.client("rev")
    r = c.post("/api/items/S-REV-1/corrections", json={"field": "owner_id_number", "value": "191234567"})
    assert r.status_code == 200
    cand = c.get("/api/items/S-REV-1").json()["candidates"][0]
    ev = {e["field"]: e for e in cand["evidence"]}["owner_id_number"]
    assert ev["agreement"] == "corrected_same" and ev["equal"]
    assert [u["field"] for u in cand["updates"]] == ["owner_name"]
    c.post("/api/items/S-REV-1/decisions", json={"action": "accept"})
    fields = [x["field"] for x in rows_of(env) if x["submission_id"] == "S-REV-1"]
    assert fields == ["owner_name"]


def test_names_as_printed_in_the_registry_letter_case(env: Env) -> None:
    gcn = Document(
        source="S-NAME/gcn.jpg",
        sha256="8" * 64,
        doc_type="gcn_page1",
        owners=[{"full_name": FieldValue(value="Nguyễn Thị Dung", confidence=0.9)}],
    )
    updates = [
        ProposedUpdate(
            field="owner_name", record_value="NGUYEN THI DUNG", scanned_value="NGUYỄN THỊ DUNG", owner_index=1
        )
    ]
    with session_scope(env.engine) as s:
        seed_submission(s, "S-NAME", [card("S-NAME/c.jpg", "NGUYỄN THỊ DUNG", "046166917873", sha="7"), gcn],
                        [proposal("TD0200", 0.8, "review", proposed_updates=updates)])  # fmt: skip
        seed_submission(s, "S-CAPS", [card("S-CAPS/c.jpg", "TRẦN VĂN BA", "046090000001", sha="6")],
                        [proposal("TD0201", 0.8, "review", proposed_updates=[
                            ProposedUpdate(field="owner_name", record_value="Tran Van Ba", scanned_value="TRẦN VĂN BA", owner_index=1)
                        ])])  # fmt: skip
    c = env.client("rev")
    shown = c.get("/api/items/S-NAME").json()["candidates"][0]["updates"]
    assert shown[0]["scanned_value"] == "Nguyễn Thị Dung"  # the certificate's spelling, not the card's capitals
    for sid in ("S-NAME", "S-CAPS"):
        assert c.post(f"/api/items/{sid}/decisions", json={"action": "accept"}).status_code == 200
    by_sub = {x["submission_id"]: x for x in rows_of(env) if x["field"] == "owner_name"}
    assert by_sub["S-NAME"]["new_value"] == "Nguyễn Thị Dung" and by_sub["S-NAME"]["owner_name"] == "Nguyễn Thị Dung"
    assert by_sub["S-CAPS"]["new_value"] == "Trần Văn Ba"


def test_auto_accepted_matches_are_exported_unless_a_person_must_look(env: Env) -> None:
    assert {x["submission_id"] for x in rows_of(env)} == {"S-AUTO-1"}  # nothing decided yet: only the auto-accept
    auto = [x for x in rows_of(env) if x["submission_id"] == "S-AUTO-1"]
    assert {x["source"] for x in auto} == {"auto"} and all(x["decided_by"] == "auto" for x in auto)
    # drawn for audit: it waits for the reviewer, whose decision is then what is exported
    env.sql(update(ReviewQueueRow).where(ReviewQueueRow.submission_id == "S-AUTO-1").values(reason="audit_sample"))
    with session_scope(env.engine) as s:
        if s.get(ReviewQueueRow, "S-AUTO-1") is None:
            s.add(ReviewQueueRow(submission_id="S-AUTO-1", reason="audit_sample", enqueued_at=utcnow()))
    assert rows_of(env) == []
    c = env.client("rev")
    assert c.post("/api/items/S-AUTO-1/decisions", json={"action": "accept"}).status_code == 200
    assert {x["source"] for x in rows_of(env)} == {"reviewer"}


def test_sent_once_never_sent_again(env: Env) -> None:
    boss = env.client("boss")
    first = boss.post("/api/export/send", json={"format": "json"})
    assert first.status_code == 200 and 'batch1.json"' in first.headers["content-disposition"]
    sent = first.json()
    assert {x["submission_id"] for x in sent} == {"S-AUTO-1"}
    assert rows_of(env) == []  # nothing pending
    again = rows_of(env, include_sent="true")
    assert {x["change_id"] for x in again} == {x["change_id"] for x in sent} and all(x["sent_at"] for x in again)
    assert rows_of(env, batch=1) == again  # an earlier batch can be downloaded again
    rev = env.client("rev")
    assert rev.post("/api/items/S-REV-2/decisions", json={"action": "accept"}).status_code == 200
    assert rev.post("/api/undo").status_code == 200  # undone and decided again the same way: the same changes
    assert rev.post("/api/items/S-REV-2/decisions", json={"action": "accept"}).status_code == 200
    second = boss.post("/api/export/send", json={"format": "csv"})
    lines = list(csv.DictReader(io.StringIO(second.content.decode("utf-8-sig"))))
    assert {x["submission_id"] for x in lines} == {"S-REV-2"}
    assert boss.post("/api/export/send", json={"format": "csv"}).content.decode("utf-8-sig").count("\n") == 1
    with session_scope(env.engine) as s:
        batches = s.scalars(select(ExportBatchRow).order_by(ExportBatchRow.id)).all()
        assert [b.row_count for b in batches] == [len(sent), len(lines), 0]
        assert s.scalar(select(ExportSentRow.batch_id).where(ExportSentRow.submission_id == "S-REV-2")) == 2
        audit = [a.detail for a in s.scalars(select(AuditRow).where(AuditRow.action == "export"))]
    assert audit[0]["batch"] == 1 and audit[0]["marked_sent"] == len(sent)


def test_export_page_marks_sent_and_lists_batches(env: Env) -> None:
    boss = env.client("boss")
    token = boss.headers.pop("X-CSRF-Token")
    page = boss.get("/export")
    assert page.status_code == 200 and "S-AUTO-1" in page.text and 'id="export-send"' in page.text
    r = boss.post("/export/send", data={"csrf_token": token, "format": "xlsx"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    page = boss.get("/export")
    assert i18n.MESSAGES["vi"]["export_none"] in page.text  # nothing left to send
    assert 'name="batch" value="1"' in page.text  # the batch can be downloaded again


def commune_registry(env: Env) -> None:
    from worker.store.registry import import_csv

    path = Path(env.settings.data_dir) / "parcels.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "parcel_id,commune_code,map_sheet_number,parcel_number,address,area_m2,land_use_code,certificate_serial,"
        "registry_number,owner_name,owner_birth_year,owner_id_number,owner_address\n"
        'TD0005,19753,3,44,"12 Lê Lợi, P. Phú Xuân",100,ODT,CS 123456,CS01234,Le Van Cuong,1985,046085011111,\n'
        'TD0001,19789,7,8,"5 Hùng Vương, P. Thuận Hóa",80,ODT,CS 223456,CS01235,Nguyen Van An,1990,191234567,\n',
        encoding="utf-8",
    )
    import_csv(path, env.engine)


def test_commune_codes_come_from_the_registry_parcel(env: Env) -> None:
    commune_registry(env)
    env.sql(update(SubmissionRow).values(commune_code=None))
    rev = env.client("rev")
    assert rev.post("/api/items/S-REV-1/decisions", json={"action": "accept"}).status_code == 200
    codes = {x["submission_id"]: x["commune_code"] for x in rows_of(env)}
    assert codes == {"S-AUTO-1": "19753", "S-REV-1": "19789"}
    ward = rows_of(env, commune="19789")
    assert {x["submission_id"] for x in ward} == {"S-REV-1"}


def cli(env: Env, *args: str) -> Any:
    from worker.cli import cli as intake

    environ = {
        "INTAKE_DATA_DIR": str(env.settings.data_dir),
        "INTAKE_DATABASE_URL": env.settings.database_url or "",
    }
    from models.settings import get_settings

    get_settings.cache_clear()
    try:
        return CliRunner().invoke(intake, ["export", *args], env=environ, catch_exceptions=False)
    finally:
        get_settings.cache_clear()


def test_cli_export_formats_since_and_marking(env: Env, tmp_path: Path) -> None:
    import openpyxl

    rev = env.client("rev")
    assert rev.post("/api/items/S-REV-1/decisions", json={"action": "accept"}).status_code == 200
    dry = tmp_path / "dry.csv"
    result = cli(env, "--format", "csv", "--output", str(dry), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "exported 4 change(s) of 2 submission(s)" in result.output and "not marked" in result.output
    raw = dry.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "Nguyễn Văn An".encode() in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {r["submission_id"] for r in rows} == {"S-AUTO-1", "S-REV-1"}
    # --since: the auto-accept was matched an hour ago, the decision just now
    later = (utcnow() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    out = tmp_path / "since.json"
    assert cli(env, "--since", later, "--format", "json", "-o", str(out), "--dry-run").exit_code == 0
    assert {r["submission_id"] for r in json.loads(out.read_text(encoding="utf-8"))} == {"S-REV-1"}
    book = tmp_path / "changes.xlsx"
    result = cli(env, "--format", "xlsx", "--output", str(book))
    assert result.exit_code == 0 and "marked as sent (batch 1)" in result.output
    sheet = openpyxl.load_workbook(book).active
    header = [cell.value for cell in sheet[1]]
    values = [dict(zip(header, (cell.value for cell in row), strict=True)) for row in sheet.iter_rows(min_row=2)]
    ids = {v["new_value"] for v in values if v["field"] == "owner_id_number"}
    assert "046090012345" in ids  # text, with its leading zero, not the number 46090012345
    assert len(values) == len(rows)
    again = cli(env, "--format", "csv", "-o", str(tmp_path / "none.csv"))
    assert "exported 0 change(s)" in again.output
    assert cli(env, "--since", "yesterday").exit_code == 2
