"""The review application: FastAPI with server-rendered Jinja2 pages and a JSON API under /api.

`create_app(settings)` builds it; `intake review serve` runs it with uvicorn."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import DataError
from sqlalchemy.orm import sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from models.settings import Settings, get_settings
from worker import aws
from worker.review import api, api_work, pages, pages_admin, pages_work
from worker.review.auth import CsrfFailed, Forbidden, NotAuthenticated, session_secret
from worker.review.errors import ReviewError
from worker.review.guard import LoginGate, RequestGuard
from worker.review.rendering import flash, render, templates
from worker.review.uploads import MAX_UPLOAD_FILES
from worker.store.db import make_engine
from worker.store.logins import LoginThrottle
from worker.store.review import ensure_schema

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_MAX_AGE_S = 10 * 60 * 60  # one working day; staff log in again the next morning
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


class SecurityHeaders:
    """Hardening headers on every response. Pure ASGI (no per-request task and stream pair, as Starlette's
    BaseHTTPMiddleware costs): a login flood's hundreds of refusals must cost the event loop next to nothing."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"content-security-policy", CSP.encode()),
        ]
        if not scope["path"].startswith("/static/"):
            # pages show personal data: never keep them in a shared office browser's cache
            defaults.append((b"cache-control", b"no-store"))

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in defaults if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    s3_client: Callable[[], Any] | None = None,
    create_tables: bool = True,
) -> FastAPI:
    """Build the review app. `engine` defaults to settings.resolved_database_url; `s3_client` is a factory
    (default worker.aws.client("s3"): AWS_ENDPOINT_URL, AWS_REGION as everywhere)."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.resolved_database_url)
    if create_tables:
        ensure_schema(engine)

    app = FastAPI(
        title="land-intake review",
        version="1.0",
        description="Review of proposed VBDLIS parcel matches: queue, leases, decisions, audit, export, uploads.",
        openapi_url=None,  # served at /api/openapi.json behind login
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
    app.state.throttle = LoginThrottle(app.state.sessionmaker)
    if s3_client is None:

        def s3_client() -> Any:
            return aws.client("s3")

    app.state.s3_client = s3_client
    app.state.assess = _matcher_assess(engine, settings)

    app.state.templates = templates()
    _add_middleware(app, settings)
    _add_error_handlers(app)

    app.include_router(pages.router)
    app.include_router(pages_work.router)
    app.include_router(pages_admin.router)
    app.include_router(api.router)
    app.include_router(api_work.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    # added first, so it runs inside the session middleware and sees the signed session
    app.add_middleware(
        RequestGuard,
        upload_paths=frozenset({"/upload", "/api/uploads"}),
        upload_limit=settings.max_file_bytes * MAX_UPLOAD_FILES,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie="intake_review",
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=settings.secure_cookies,
    )

    app.add_middleware(SecurityHeaders)
    app.add_middleware(LoginGate)  # added last: the outermost layer


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def _not_authenticated(request: Request, _exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "not_authenticated"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "forbidden", "reason": exc.reason}, status_code=403)
        return render(request, "error.html", {"status": 403, "message_key": "forbidden"}, status_code=403)

    @app.exception_handler(CsrfFailed)
    async def _csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        log.warning("CSRF check failed: %s %s", request.method, request.url.path)
        if _is_api(request):
            return JSONResponse({"error": "csrf_failed"}, status_code=403)
        return render(request, "error.html", {"status": 403, "message_key": "csrf_failed"}, status_code=403)

    @app.exception_handler(ReviewError)
    async def _review_error(request: Request, exc: ReviewError) -> Response:
        if _is_api(request):
            return JSONResponse({"error": exc.key, **exc.params}, status_code=exc.status)
        if exc.status == 404:
            return render(request, "error.html", {"status": 404, "message_key": exc.key}, status_code=404)
        flash(request, exc.key, "error", **exc.params)
        back = request.headers.get("referer") or "/"
        return RedirectResponse(back if back.startswith(str(request.base_url)) else "/", status_code=303)

    @app.exception_handler(DataError)
    async def _refused_value(request: Request, exc: DataError) -> Response:
        # a value the database cannot store (a NUL byte, a string past its column): the request was bad
        log.warning("database refused a value: %s %s (%s)", request.method, request.url.path, type(exc.orig).__name__)
        if _is_api(request):
            return JSONResponse({"error": "invalid_request"}, status_code=422)
        return render(request, "error.html", {"status": 422, "message_key": "invalid_request"}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            # where and what, never the value: it may be a password, or bytes JSON cannot carry
            detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
            return JSONResponse({"error": "invalid_request", "detail": jsonable_encoder(detail)}, status_code=422)
        return render(request, "error.html", {"status": 422, "message_key": "invalid_request"}, status_code=422)


def _matcher_assess(engine: Engine, settings: Settings) -> Callable[[list[Any], list[str]], list[Any]]:
    """Matcher.assess for candidates a reviewer finds in the registry; the matcher (its model and registry
    statistics) is loaded on first use and kept."""
    holder: dict[str, Any] = {}

    def assess(documents: list[Any], parcel_ids: list[str]) -> list[Any]:
        if "matcher" not in holder:
            # here, not at the top: the matcher brings the OCR pipeline and its models into the app's start-up
            from worker.match import Matcher

            holder["matcher"] = Matcher(engine, settings)
        return list(holder["matcher"].assess(documents, parcel_ids))

    return assess


def app_from_env() -> FastAPI:
    """uvicorn factory for multi-worker serving (each process builds its own app from the environment)."""
    return create_app(get_settings())
