"""The `intake` CLI contract (issue #2): JSON shape, bad input handling, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.document import DOC_TYPES

INTAKE = [sys.executable, "-m", "worker"]


def run_intake(*args: str, env_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"INTAKE_DATA_DIR": str(env_dir), "PATH": "/usr/bin:/bin", "OMP_THREAD_LIMIT": "1"}
    proc = subprocess.run([*INTAKE, *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def sample_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.samples import generate

    out = tmp_path_factory.mktemp("samples")
    generate(out, 3, 11)
    return out


@pytest.fixture()
def bad_inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "bad-submission"
    folder.mkdir()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is a text file, not a photo\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF garbage")
    (folder / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return folder


def test_help_lists_every_command(tmp_path: Path) -> None:
    out = run_intake("--help", env_dir=tmp_path).stdout
    for command in ("process", "samples", "parcels", "demo"):
        assert command in out


def test_process_json_contract_on_a_generated_submission(sample_set: Path, tmp_path: Path) -> None:
    run_intake("parcels", "import", str(sample_set / "parcels.csv"), env_dir=tmp_path)
    submission = sorted((sample_set / "submissions").iterdir())[0]
    proc = run_intake("process", "--json", str(submission), env_dir=tmp_path)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    result = lines[0]
    assert set(result) >= {"submission_id", "documents", "proposals", "errors"}
    assert result["submission_id"] == submission.name
    assert result["documents"], "a generated submission must yield documents"
    for doc in result["documents"]:
        assert doc["doc_type"] in DOC_TYPES
        assert doc["page"] >= 1 and len(doc["sha256"]) == 64
        assert doc["orientation_deg"] in (0, 90, 180, 270)
        assert 0.0 <= doc["doc_type_confidence"] <= 1.0
        for fv in doc["fields"].values():
            assert set(fv) >= {"value", "confidence"} and 0.0 <= fv["confidence"] <= 1.0
    # real values were read: the truth's doc types appear among what was classified
    truth = [json.loads(x) for x in (sample_set / "truth.jsonl").read_text().splitlines()]
    expected_types = {d["doc_type"] for t in truth if t["submission_id"] == submission.name for d in t["documents"]}
    assert expected_types & {d["doc_type"] for d in result["documents"]}
    for proposal in result["proposals"]:
        assert proposal["band"] in ("auto_accept", "review", "unlikely")
        assert 0.0 <= proposal["confidence"] <= 1.0
    assert len(result["proposals"]) <= 5


def test_bad_inputs_become_error_entries_and_exit_zero(bad_inputs: Path, tmp_path: Path) -> None:
    proc = run_intake("process", "--json", "--no-match", str(bad_inputs), env_dir=tmp_path)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    codes = {Path(e["source"]).name: e["code"] for e in result["errors"]}
    assert codes["empty.jpg"] == "empty_file"
    assert codes["notes.jpg"] == "unsupported_format"
    assert codes["broken.pdf"] == "corrupt_pdf"
    assert codes["truncated.png"] in ("corrupt_image", "unsupported_format")
    assert all(e["message"] for e in result["errors"])
    assert result["documents"] == []


def test_bad_usage_exits_non_zero_with_a_reason(tmp_path: Path) -> None:
    proc = run_intake("process", str(tmp_path / "does-not-exist"), env_dir=tmp_path, check=False)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
