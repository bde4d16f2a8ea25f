"""The fault-injection load test (bench/load.py) as a test: 0 lost, 0 duplicated, every poison recorded.

Slow: 500 messages of real OCR on two worker processes, one SIGKILLed halfway (several minutes on 2 cores).
Run with `pytest -m slow -k load`."""

from __future__ import annotations

import re

import pytest

from bench import load


def _counts(output: str) -> dict[str, str]:
    return {m.group(1).strip(): m.group(2).strip() for m in re.finditer(r"^(.+?)\s{2,}(.+)$", output, re.M)}


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("mode", ["embedded", "s3"])
def test_load_500_messages_with_poison_and_a_killed_worker(mode: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code = load.main(["--messages", "500", "--poison", "0.1", "--workers", "2", "--kill-at", "0.5", "--mode", mode])
    counts = _counts(capsys.readouterr().out)
    assert counts["LOST"] == "0"
    assert counts["DUPLICATED"] == "0"
    assert counts["wrong outcome (scan failed / poison read)"] == "0"
    assert counts["workers"].startswith("2, one SIGKILLed at")
    assert code == 0


def test_load_plan_mixes_poison_and_redeliveries() -> None:
    plan = load.make_plan(100, 0.1, 0.06, seed=3)
    kinds = sorted(plan.expected.values())
    assert kinds.count("document") == 84
    assert plan.bad_messages == 2  # every fifth poison is a message that is not even JSON
    assert {"empty", "corrupt_pdf", "bomb", "not_an_image"} <= set(kinds)
    assert len(plan.redeliveries) == 3 and kinds.count("duplicate") == 3
    assert len({plan.files[k] for k, v in plan.expected.items() if v == "document"}) == 84  # distinct scans
