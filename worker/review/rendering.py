"""Pages in the user's language: the Jinja2 environment, `render` with the label helpers every template
uses, and one-shot flash messages. Shared by the app and every page router."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from worker.review import i18n, labels
from worker.review.auth import csrf_token

HERE = Path(__file__).parent
VIETNAM = timezone(timedelta(hours=7), "ICT")  # the office's clock: UTC+7, no daylight saving


def flash(request: Request, key: str, level: str = "info", **params: Any) -> None:
    messages = list(request.session.get("flash", []))
    messages.append({"key": key, "level": level, "params": {k: str(v) for k, v in params.items()}})
    request.session["flash"] = messages[-5:]


def _fmt_dt(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(VIETNAM).strftime(fmt)


def _fmt_age(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = max(0, int((datetime.now(UTC) - value).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}′"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["dt"] = _fmt_dt
    templates.env.filters["age"] = _fmt_age
    templates.env.globals["quote"] = quote
    templates.env.globals["urlencode"] = urlencode
    templates.env.globals["unit_names"] = i18n.UNIT_NAMES
    return templates


def _label_helpers(t: Callable[..., str]) -> dict[str, Any]:
    """The stages' codes in the page's language (see labels.py)."""
    known = i18n.MESSAGES[i18n.DEFAULT].__contains__
    return {
        "flabel": lambda name: labels.field_label(t, name),
        "alabel": lambda level: labels.agreement_label(t, level),
        "warning": lambda w: labels.warning_view(t, w, known),
        "nlabel": lambda note: labels.note_label(t, note),
        "rlabel": lambda reason: labels.reason_label(t, reason),
        "elabel": lambda code: labels.error_label(t, code),
        "val": lambda name, value: labels.display_value(t, name, value),
    }


def current_lang(request: Request) -> str:
    lang = request.session.get("lang") or request.query_params.get("lang") or i18n.DEFAULT
    return lang if lang in i18n.LANGUAGES else i18n.DEFAULT


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    user: Any = None,
    status_code: int = 200,
) -> Response:
    lang = current_lang(request)
    t = i18n.translator(lang)
    ctx: dict[str, Any] = {
        "user": user,
        "lang": lang,
        "t": t,
        **_label_helpers(t),
        "csrf": csrf_token(request),
        "flashes": request.session.pop("flash", []),
        "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    ctx.update(context or {})
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
