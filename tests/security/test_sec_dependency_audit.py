"""The dependency audit CI runs (scripts/audit_deps.py): the vendored advisory data flags versions it should,
and the environment the suite runs in has no known-vulnerable package."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.security

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_deps.py"


def _audit():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("audit_deps", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_known_vulnerable_versions_are_flagged_and_fixed_ones_are_not() -> None:
    audit = _audit()
    db = json.loads(audit.DB.read_text())
    old = {"starlette": "0.25.0", "jinja2": "2.10", "urllib3": "1.26.4"}
    flagged = {(name, adv["id"]) for name, _v, adv in audit.findings(old, db)}
    assert {name for name, _ in flagged} == set(old)
    fixed = {"starlette": "1.10.0", "jinja2": "3.1.6", "urllib3": "2.8.0"}
    assert audit.findings(fixed, db) == []


def test_this_environment_has_no_known_vulnerable_package() -> None:
    assert _audit().main(["--offline-only"]) == 0
