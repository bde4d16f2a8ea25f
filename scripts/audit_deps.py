"""Known-vulnerability audit of the Python packages installed in this environment (what CI really runs).

Two sources:
- offline, always: the PyPA advisory database (the data pip-audit's PyPI service serves), the advisories of
  every package this project installs, vendored in scripts/advisories-pypa.json with the commit and date it
  was taken from (`--refresh DIR` rebuilds it from a checkout of github.com/pypa/advisory-database);
- online, when the PyPI JSON API answers: pip-audit over the same pinned set. Where it does not (a machine
  that reaches the package index only, as this project's CI does), that is said and the offline result
  stands.

Exit 1 when an installed version is affected by an advisory not listed in ALLOWED (with the reason)."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from importlib import metadata
from pathlib import Path

from packaging.version import InvalidVersion, Version

DB = Path(__file__).with_name("advisories-pypa.json")
# advisory id -> why it does not apply to this project (reviewed by a person; keep the reason current)
ALLOWED: dict[str, str] = {}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    return {_norm(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}


def _in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV ECOSYSTEM range: introduced/fixed/last_affected events in order."""
    affected = False
    for event in events:
        try:
            if "introduced" in event:
                affected = event["introduced"] == "0" or version >= Version(event["introduced"])
            elif ("fixed" in event and affected and version >= Version(event["fixed"])) or (
                "last_affected" in event and affected and version > Version(event["last_affected"])
            ):
                affected = False
        except InvalidVersion:
            continue
    return affected


def findings(packages: dict[str, str], db: dict[str, object]) -> list[tuple[str, str, dict[str, object]]]:
    found = []
    advisories: dict[str, list[dict[str, object]]] = db["packages"]  # type: ignore[assignment]
    for name, raw in sorted(packages.items()):
        try:
            version = Version(raw)
        except InvalidVersion:
            continue
        for adv in advisories.get(name, []):
            ranges: list[list[dict[str, str]]] = adv.get("ranges", [])  # type: ignore[assignment]
            if raw in adv.get("versions", []) or any(_in_range(version, r) for r in ranges):  # type: ignore[operator]
                found.append((name, raw, adv))
    return found


def pypi_json_reachable(packages: dict[str, str]) -> bool:
    """pip-audit asks https://pypi.org/pypi/NAME/VERSION/json; a mirror of the index alone answers 404, and
    pip-audit then skips every package and reports nothing found."""
    try:
        url = f"https://pypi.org/pypi/pip/{packages.get('pip', '24.0')}/json"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status) == 200
    except Exception:
        return False


def online(packages: dict[str, str]) -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        req.write("".join(f"{n}=={v}\n" for n, v in sorted(packages.items()) if n != "land-intake"))
    cmd = [sys.executable, "-m", "pip_audit", "-r", req.name, "--no-deps", "--disable-pip", "--strict"]
    cmd += ["--progress-spinner", "off"]
    for adv_id in ALLOWED:
        cmd += ["--ignore-vuln", adv_id]
    return subprocess.run(cmd).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offline-only", action="store_true", help="do not try pip-audit online")
    args = parser.parse_args(argv)
    db = json.loads(DB.read_text())
    packages = installed()
    hits = [(n, v, a) for n, v, a in findings(packages, db) if a["id"] not in ALLOWED]
    print(f"offline audit: {len(packages)} installed packages against the PyPA advisory database of {db['date'][:10]}")
    for name, version, adv in hits:
        print(f"  VULNERABLE {name} {version}: {adv['id']} {' '.join(adv.get('aliases', []))} {adv['summary']}")  # type: ignore[arg-type]
    status = 1 if hits else 0
    if not hits:
        print("  no known vulnerability")
    if args.offline_only:
        return status
    if not pypi_json_reachable(packages):
        print("online audit (pip-audit) skipped: the PyPI JSON API does not answer here; the offline result stands")
        return status
    return max(status, online(packages))


if __name__ == "__main__":
    sys.exit(main())
