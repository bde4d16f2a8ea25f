"""`intake`: the command line for clerks, reviewers and operators.

Exit codes (stable; worker.failures maps failures to them): 0 ok (per-document failures are reported, not
fatal), 2 bad usage or an invalid setting, 3 a required input or service is missing, 130 interrupted.

The root group imports no command: each one is loaded from its module when it runs (click's lazy-loading
pattern), so `intake --help` and a cheap command do not pay for the OCR pipeline's imports."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

from models.settings import get_settings
from worker.failures import run
from worker.logging import configure_logging

# name -> ("module:attribute", the first sentence of its help): the listing in `intake --help` is made from
# the sentence so that it imports nothing; tests/unit/test_cli_lazy.py checks each against its command.
COMMANDS: Mapping[str, tuple[str, str]] = {
    "backfill": ("worker.intake.backfill.command:backfill", "Push an archive of scans through the pipeline."),
    "demo": (
        "worker.demo:demo",
        "Run the whole product end to end on generated samples and show how accurate it was.",
    ),
    "dlq": (
        "worker.intake.commands:dlq",
        "The dead-letter queue: messages given up on, with the error that condemned them.",
    ),
    "export": (
        "worker.review.commands:export_command",
        "Write the changes for VBDLIS that have not been sent yet (reviewers' accepts and new records, and "
        "auto-accepted matches no person needs to see), one row per parcel-owner change, and mark them as sent "
        "so the next export starts after them.",
    ),
    "model": (
        "worker.match.commands:model_group",
        "The matching model (Fellegi-Sunter weights and their calibration).",
    ),
    "parcels": ("worker.commands.parcels:parcels", "The registry (VBDLIS export) the matcher proposes parcels from."),
    "process": ("worker.commands.process:process", "Read scans now, without the queue."),
    "relay": (
        "worker.intake.commands:relay",
        "Forward S3 event notifications POSTed by a webhook (MinIO) to the work queue (SQS or the local queue).",
    ),
    "review": ("worker.review.commands:review_group", "The review web application."),
    "samples": (
        "worker.demo:samples",
        "Write synthetic scans (OUTDIR/submissions/*), a registry export (parcels.csv) and ground truth (truth.jsonl).",
    ),
    "status": (
        "worker.intake.commands:status",
        "Queue depth, jobs by status and by error code, source objects by status.",
    ),
    "users": ("worker.review.commands:users_group", "Review app accounts."),
    "worker": (
        "worker.intake.commands:worker_command",
        "Process scans from the queue until stopped (SIGTERM finishes the current scan first).",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click docs, "Lazily Loading Subcommands").

    ``lazy_subcommands`` maps a name to ("module:attribute", summary); the summary stands in for the
    command's help in the group's command listing, which therefore imports no command module."""

    def __init__(
        self, *args: Any, lazy_subcommands: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands and cmd_name not in self.commands:
            self.add_command(self.load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # click suggests close names ("Did you mean ...") from the loaded commands only: a name that is
        # none of ours loads them all first, a cost paid on the error path alone
        if args and args[0] not in self.list_commands(ctx):
            for name in self.lazy_subcommands:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def load(self, cmd_name: str) -> click.Command:
        """Import the command registered as ``cmd_name``."""
        path = self.lazy_subcommands[cmd_name][0]
        module_name, _, attribute = path.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{path} is not a click command")
        return command

    def listed(self, cmd_name: str) -> click.Command:
        """The command as the listing shows it: the loaded one, or a stand-in carrying its summary."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        return click.Command(cmd_name, help=self.lazy_subcommands[cmd_name][1])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click.Group.format_commands, with listed() where it calls get_command() (which would import)
        commands = [(name, self.listed(name)) for name in self.list_commands(ctx)]
        commands = [(name, command) for name, command in commands if not command.hidden]
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        with formatter.section("Commands"):
            formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in commands])


@click.group(
    cls=LazyGroup,
    lazy_subcommands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING (default from INTAKE_LOG_LEVEL, else INFO)")
@click.version_option(package_name="land-intake", prog_name="intake")
def cli(log_level: str | None) -> None:
    """Read scans of land-use-right certificates (GCN) and citizen ID cards (CCCD/CMND), extract validated
    fields and propose the matching VBDLIS parcel for review.

    \b
    Start here:  intake demo                 generate sample scans and run everything end to end
                 intake process DIR --json   read one submission folder and print the result
    Configuration comes from INTAKE_* environment variables (see the README's configuration reference)."""
    settings = get_settings()
    configure_logging(log_level or settings.log_level, settings.log_json)


def main() -> None:
    """The `intake` program: known failures (a service down, a bad setting or file) print one line and exit
    with the README's code (worker.failures); only a bug shows a traceback."""
    run(cli)
