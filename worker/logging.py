"""Logging with personal data masked: ID numbers keep only their last 3 digits, names their initials.

Masking happens in a logging.Filter on every record, on the message and on every extra field (`source`,
`submission_id`, ...), so a careless f-string or a clerk's file name cannot leak an ID number or a name:
any run of 9 or 12 digits is masked, and any run of two or more capitalised words (`ĐỖ QUANG ĐẠT`,
`Nguyễn Văn An`, `DO_QUANG_DAT`) is cut to initials. A name written in lower case is not recognised."""

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


# runs of letter-only words joined by a space or an underscore (file names use both)
_WORD_RUN = re.compile(r"(?<![^\W\d_])[^\W\d_]+(?:[ _][^\W\d_]+)+(?![^\W\d_])")
_WORD = re.compile(r"[^\W\d_]+|[ _]")


def _mask_capitalised(run: str) -> str:
    """Within one run of words, every stretch of two or more capitalised words becomes initials."""
    words = _WORD.findall(run)
    out: list[str] = []
    stretch: list[str] = []

    def flush() -> None:
        if len([w for w in stretch if w.strip(" _")]) >= 2:
            out.append(mask_name(" ".join(w for w in stretch if w.strip(" _"))))
        else:
            out.extend(stretch)
        stretch.clear()

    for word in words:
        if word in (" ", "_"):
            if stretch:
                stretch.append(word)
            else:
                out.append(word)
            continue
        if word[0].isupper():
            stretch.append(word)
            continue
        trailing = stretch.pop() if stretch and stretch[-1] in (" ", "_") else None
        flush()
        if trailing:
            out.append(trailing)
        out.append(word)
    trailing = stretch.pop() if stretch and stretch[-1] in (" ", "_") else None
    flush()
    if trailing:
        out.append(trailing)
    return "".join(out)


def mask_text(text: str) -> str:
    text = _ID_RUN.sub(lambda m: mask_id(m.group(1)), text)
    return _WORD_RUN.sub(lambda m: _mask_capitalised(m.group(0)), text)


def mask_value(value: object) -> object:
    """Strings masked, containers walked; numbers, booleans and None as they are."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, int | float | bool) or value is None:
        return value
    return mask_text(str(value))


# the attributes every LogRecord has; anything else on a record came in through `extra=`
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, mask_value(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_text(record.getMessage()),
        }
        for key in ("submission_id", "source", "code", "stage", "job_id", "seconds", "worker"):
            if hasattr(record, key):
                entry[key] = mask_value(getattr(record, key))  # idempotent: safe after the filter too
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
