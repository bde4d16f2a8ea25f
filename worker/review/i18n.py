"""Interface text: Vietnamese (default) and English, one language at a time. Both tables have the same keys
(a test holds them to it), so a page never mixes languages; a key missing from both shows as itself, never as
an error page. Codes from the other stages (fields, comparison levels, warnings, reasons) are translated by
worker/review/labels.py through the same tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.review import messages_en, messages_vi

DEFAULT = "vi"
LANGUAGES = ("vi", "en")

DOC_TYPE_KEYS = ("cccd_front", "cccd_back", "cmnd_front", "cmnd_back", "gcn_page1", "gcn_page2", "gcn_other", "unknown")
AUDIT_ACTIONS = (
    "accept",
    "reject",
    "none",
    "new_record",
    "rescan",
    "reopen",
    "second_review",
    "add_candidate",
    "correct",
    "note",
    "undo",
    "lease",
    "release",
    "upload",
    "export",
    "login",
    "login_failed",
    "logout",
    "user_add",
    "user_change",
    "settings",
)

# post-07/2025 units of Huế (domain reference); shown next to codes in filters
UNIT_NAMES: dict[str, str] = {
    "19753": "Phú Xuân",
    "19774": "Kim Long",
    "19777": "Vỹ Dạ",
    "19789": "Thuận Hóa",
    "19804": "Hương An",
    "19813": "Thủy Xuân",
    "19815": "An Cựu",
    "19900": "Thuận An",
    "19960": "Phú Bài",
    "19975": "Hương Thủy",
    "19996": "Hương Trà",
}

MESSAGES: dict[str, dict[str, str]] = {"vi": messages_vi.MESSAGES, "en": messages_en.MESSAGES}


def translate(lang: str, key: str, default: str | None = None, **params: Any) -> str:
    text = MESSAGES.get(lang, MESSAGES[DEFAULT]).get(key) or (default if default is not None else key)
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def translator(lang: str) -> Callable[..., str]:
    def t(key: str, default: str | None = None, **params: Any) -> str:
        return translate(lang, key, default, **params)

    return t
