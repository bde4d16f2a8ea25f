"""F7: personal data masked in every log field. A full worker run (a real subprocess, JSON logs) over scans
whose file names carry their holder's name and ID number, a poison file named the same way included: no ID
number and no name of the ground truth may appear anywhere in the log, in any field."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from worker.logging import JsonFormatter, MaskingFilter
from worker.vntext import strip_diacritics

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "fixtures" / "sample_set"


def _truth(ids: set[str]) -> list[dict]:  # type: ignore[type-arg]
    rows = [json.loads(line) for line in (SAMPLES / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if r["submission_id"] in ids]


def test_the_json_logs_of_a_full_run_hold_no_id_number_and_no_name(tmp_path: Path) -> None:
    inbox = tmp_path / "data" / "inbox"
    secrets: set[str] = set()
    for t in _truth({"S0006", "S0008"}):
        for doc in t["documents"]:
            fields = doc["fields"]
            name, number = fields["full_name"], fields["id_number"]
            secrets |= {name, number, strip_diacritics(name), name.title()}
            target = inbox / f"{name} {number}" / f"{name} {number} {Path(doc['file']).name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SAMPLES / doc["file"], target)
            poison = target.with_name(f"{strip_diacritics(name).replace(' ', '_')}_{number}.jpg")
            poison.write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9")
    env = dict(
        os.environ,
        INTAKE_DATA_DIR=str(tmp_path / "data"),
        INTAKE_LOG_JSON="true",
        INTAKE_LOG_LEVEL="DEBUG",
        OMP_THREAD_LIMIT="1",
    )
    run = subprocess.run(
        [sys.executable, "-m", "worker.intake", "worker", "--drain", "--wait", "0.2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=600,
    )
    log = (run.stdout + run.stderr).decode("utf-8", errors="replace")
    assert run.returncode == 0, log[-2000:]
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line.get("source") for line in lines)  # the fields that used to leak are there, masked
    assert any(line["msg"].startswith("failed ") for line in lines)  # the poison file, named like the scans
    text = unicodedata.normalize("NFC", log)
    leaked = sorted(s for s in secrets if unicodedata.normalize("NFC", s) in text)
    assert leaked == []


def test_every_extra_field_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "failed %s", ("ĐỖ QUANG ĐẠT 001094206442.jpg",), None)
    record.source = "HS-1/ĐỖ QUANG ĐẠT 001094206442.jpg"
    record.detail = {"owner": "Nguyễn Văn An", "ids": ["046090012345"]}
    MaskingFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    flat = json.dumps([entry, record.detail], ensure_ascii=False)
    for secret in ("001094206442", "046090012345", "QUANG", "ĐẠT", "Nguyễn", "Văn"):
        assert secret not in flat
    assert entry["source"] == "HS-1/Đ. Q. Đ. *********442.jpg"
