"""Logging with personal data masked: ID numbers keep only their last 3 digits, names their initials.

Masking happens in a logging.Filter on every record, so a careless f-string cannot leak a full ID number:
any run of 9 or 12 digits in a message is masked too."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_ID_RUN = re.compile(r"(?<!\d)(\d{9}|\d{12})(?!\d)")


def mask_id(value: str | None) -> str:
    if not value:
        return ""
    digits = str(value)
    return "*" * max(0, len(digits) - 3) + digits[-3:]


def mask_name(value: str | None) -> str:
    """`NGUYỄN VĂN AN` → `N. V. A.`: enough for an operator to tell records apart, not to identify anyone."""
    if not value:
        return ""
    return " ".join(part[0] + "." for part in str(value).split() if part)


def mask_text(text: str) -> str:
    return _ID_RUN.sub(lambda m: mask_id(m.group(1)), text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("submission_id", "source", "code", "stage", "job_id", "seconds", "worker"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", json_logs: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if root.level > logging.DEBUG:
        # their INFO lines (migration plugins, HTTP connection pools) bury the worker's own progress messages
        for chatty in ("alembic", "botocore", "urllib3", "httpx", "multipart"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
