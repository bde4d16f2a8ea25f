"""`python -m worker.intake worker|dlq|status`: the worker commands without the rest of the CLI."""

from worker.failures import run
from worker.intake.commands import main_group

if __name__ == "__main__":
    run(main_group, prog_name="python -m worker.intake")
