"""Print the package-level import graph of worker/ and models/ as a Mermaid flowchart (docs/architecture.md).

    .venv/bin/python scripts/import_graph.py            # the graph docs/architecture.md shows
    .venv/bin/python scripts/import_graph.py --check    # exit 1 if docs/architecture.md shows another one

Built with grimp, the graph library import-linter checks the contracts in .importlinter with, so the
picture and the checked layering come from the same reading of the imports. Modules are grouped by their
top-level unit (`worker.intake.loop` -> `intake`); the stages' click command modules are drawn as the CLI,
which is what they are."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import grimp

from worker.cli import COMMANDS as LAZY_COMMANDS

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
# command modules that live beside their stage but are entry points
COMMANDS = {
    "worker.intake.__main__",
    "worker.intake.commands",
    "worker.intake.backfill.command",
    "worker.match.commands",
    "worker.review.commands",
}
# shared helpers drawn as one box, so the picture shows the stages' structure
SHARED = {
    "vntext",
    "keys",
    "lexicons",
    "raster",
    "memory",
    "metrics",
    "progress",
    "failures",
    "logging",
    "aws",
    "errors",
}


def unit(module: str) -> str:
    if module in COMMANDS or module in ("worker.cli", "worker.__main__") or module.startswith("worker.commands"):
        return "cli"
    parts = module.split(".")
    if parts[0] == "models":
        return "models"
    name = parts[1] if len(parts) > 1 else "worker"
    return "shared" if name in SHARED else name


def edges() -> set[tuple[str, str]]:
    graph = grimp.build_graph("worker", "models", include_external_packages=False)
    found: set[tuple[str, str]] = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported in COMMANDS and imported.startswith(importer + "."):
                continue  # a stage package naming its own command module (for `python -m`): not a dependency
            a, b = unit(importer), unit(imported)
            if a != b and a != "worker" and b != "worker":
                found.add((a, b))
    # the root group imports its commands by name when they run (worker.cli.LazyGroup): drawn as the imports they are
    for target, _summary in LAZY_COMMANDS.values():
        loaded = unit(target.partition(":")[0])
        if loaded != "cli":
            found.add(("cli", loaded))
    return found


def mermaid(found: set[tuple[str, str]]) -> str:
    lines = ["```mermaid", "flowchart TD"]
    lines += [f"    {a} --> {b}" for a, b in sorted(found)]
    lines.append("```")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare with the graph in docs/architecture.md")
    mode.add_argument("--write", action="store_true", help="replace the graph in docs/architecture.md")
    args = parser.parse_args()
    graph = mermaid(edges())
    if not (args.check or args.write):
        print(graph)
        return 0
    doc = DOC.read_text(encoding="utf-8")
    shown = re.search(r"```mermaid\n.*?```", doc, re.S)
    if shown is None:
        print("docs/architecture.md has no mermaid graph to compare with or replace", file=sys.stderr)
        return 1
    if args.write:
        DOC.write_text(doc[: shown.start()] + graph + doc[shown.end() :], encoding="utf-8")
        return 0
    if shown.group(0) != graph:
        print("docs/architecture.md does not show the current import graph; run scripts/import_graph.py --write:\n" + graph)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
