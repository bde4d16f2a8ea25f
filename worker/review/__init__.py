"""Review stage: the web application where staff decide proposed matches.

Public API:
    create_app(settings, engine=None, s3_client=None) -> FastAPI     the app (pages + JSON API under /api)
    review_group, export_command, users_group                        click commands for worker/cli.py
    decided_pairs(engine) -> list[DecidedPair]                       reviewer labels for the matcher's calibration
    get_thresholds(engine, settings) -> ReviewThresholds             thresholds as edited by admins
"""

from __future__ import annotations

from typing import Any

from worker.review.commands import export_command, review_group, users_group
from worker.store.review import DecidedPair, ReviewThresholds, decided_pairs, get_thresholds

__all__ = [
    "DecidedPair",
    "ReviewThresholds",
    "create_app",
    "decided_pairs",
    "export_command",
    "get_thresholds",
    "review_group",
    "users_group",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        # imported on first use: the CLI and the matcher must not pay for FastAPI and Jinja at start-up
        from worker.review.app import create_app

        return create_app
    raise AttributeError(name)
