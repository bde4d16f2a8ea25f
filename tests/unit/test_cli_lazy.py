"""The `intake` root group loads its commands lazily: `--help` imports none of them and lists them exactly as
the commands themselves would, and every entry of its table is a command of that name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from worker.cli import COMMANDS, LazyGroup, cli

ROOT = Path(__file__).resolve().parents[2]
# what the root group must not import before a command runs: the stages, the OCR stack, the command modules
HEAVY = (
    "worker.pipeline",
    "worker.demo",
    "worker.wiring",
    "worker.commands",
    "worker.intake",
    "worker.match",
    "worker.review",
    "worker.store",
    "worker.extract",
    "worker.imaging",
    "worker.ocr",
    "cv2",
    "tesserocr",
)
HELP_IN_A_FRESH_PROCESS = f"""
import sys
from click.testing import CliRunner
from worker.cli import cli
result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
print(result.exit_code)
print(result.output)
print("LOADED", *sorted(m for m in {HEAVY!r} if m in sys.modules))
"""


def _listed(output: str) -> list[str]:
    section = output.split("Commands:\n", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.strip()]


def test_help_lists_every_command_without_importing_any() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", HELP_IN_A_FRESH_PROCESS], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    code, *lines = proc.stdout.splitlines()
    assert code == "0"
    assert lines[-1] == "LOADED", f"--help imported {lines[-1].removeprefix('LOADED ')}"
    assert _listed("\n".join(lines[:-1])) == sorted(COMMANDS)


def _fresh_lazy() -> LazyGroup:
    return LazyGroup(
        name=cli.name,
        lazy_subcommands=COMMANDS,
        params=cli.params,
        callback=cli.callback,
        help=cli.help,
        context_settings=cli.context_settings,
    )


def test_each_table_entry_is_the_command_of_that_name() -> None:
    group = _fresh_lazy()
    for name in COMMANDS:
        command = group.load(name)
        assert command.name == name
        assert not command.hidden and not command.deprecated, "the listing's stand-in would not show this"
        for limit in (10, 30, 45, 80, 104, 1000):
            assert group.listed(name).get_short_help_str(limit) == command.get_short_help_str(limit), (name, limit)


@pytest.mark.parametrize("width", [50, 80, 200])
def test_the_lazy_help_is_the_help_of_the_same_group_with_every_command_loaded(width: int) -> None:
    lazy = _fresh_lazy()
    eager = click.Group(
        name=cli.name,
        commands={name: lazy.load(name) for name in COMMANDS},
        params=cli.params,
        callback=cli.callback,
        help=cli.help,
        context_settings=cli.context_settings,
    )
    shown = CliRunner().invoke(lazy, ["--help"], terminal_width=width)
    assert shown.exit_code == 0
    assert not lazy.commands, "--help loaded a command"
    assert shown.output == CliRunner().invoke(eager, ["--help"], terminal_width=width).output


def test_a_mistyped_command_is_answered_with_the_close_names() -> None:
    result = CliRunner().invoke(_fresh_lazy(), ["proces"])
    assert result.exit_code == 2
    assert "No such command 'proces'." in result.output
    assert "'process'" in result.output.split("Did you mean", 1)[1]


def test_a_table_entry_that_is_no_command_is_refused() -> None:
    group = LazyGroup(lazy_subcommands={"table": ("worker.cli:COMMANDS", "Not a command.")})
    with pytest.raises(TypeError, match="not a click command"):
        group.load("table")
