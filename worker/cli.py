"""`intake`: the command line for clerks, reviewers and operators.

Exit codes (stable; worker.failures maps failures to them): 0 ok (per-document failures are reported, not
fatal), 2 bad usage or an invalid setting, 3 a required input or service is missing, 130 interrupted."""

from __future__ import annotations

import click

from models.settings import get_settings
from worker.commands.parcels import parcels
from worker.commands.process import process
from worker.demo import demo, samples
from worker.failures import run
from worker.intake.backfill.command import backfill
from worker.intake.commands import COMMANDS as INTAKE_COMMANDS
from worker.logging import configure_logging
from worker.match.commands import model_group
from worker.review.commands import export_command, review_group, users_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
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


# Commands contributed by worker/commands/ and by the stages.
for _command in (
    process,
    parcels,
    demo,
    samples,
    backfill,
    *INTAKE_COMMANDS,
    model_group,
    review_group,
    export_command,
    users_group,
):
    cli.add_command(_command)
