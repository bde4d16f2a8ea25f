"""Request guard: authenticate before reading a body, and a body size limit per route enforced while streaming.

FastAPI reads a route's whole form or JSON body before any dependency runs (its role and CSRF checks
included), and the multipart parser spools uploads to temporary files: without this guard a cookie-less
2 GiB POST to /upload wrote 2 GiB to disk before it was refused. This pure ASGI middleware sits inside the
session middleware, so it sees the signed session: a request that may carry a body is refused before one
byte of it is read unless it comes from a live session (user active, session epoch current) or goes to a
login route; and a body is cut off with 413 as soon as it passes the route's limit (the declared
Content-Length at once, a chunked body while it streams). A NUL byte in the path or query is refused with
400: no route takes one, and PostgreSQL refuses to store one."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool

from worker.review.auth import logins_saturated
from worker.store.review import UserRow

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# routes that take a body before anyone is logged in
ANONYMOUS = frozenset({("POST", "/login"), ("POST", "/api/session")})
LOGIN_LIMIT = 64 * 1024
DEFAULT_LIMIT = 1024 * 1024  # forms and JSON: notes, corrections, settings
MULTIPART_OVERHEAD = 1024 * 1024


class RequestGuard:
    def __init__(self, app: ASGIApp, *, upload_paths: frozenset[str], upload_limit: int) -> None:
        self.app = app
        self.upload_paths = upload_paths
        self.upload_limit = upload_limit + MULTIPART_OVERHEAD

    def limit_for(self, method: str, path: str) -> int:
        if (method, path) in ANONYMOUS:
            return LOGIN_LIMIT
        return self.upload_limit if path in self.upload_paths else DEFAULT_LIMIT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if "\x00" in path or b"%00" in scope.get("query_string", b"") or b"\x00" in scope.get("query_string", b""):
            await _reply(send, 400, {"error": "invalid_request", "detail": "NUL byte in the URL"})
            return
        method: str = scope["method"]
        if method not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if (method, path) not in ANONYMOUS and not await _live_session(scope):
            await _not_authenticated(scope, send)
            return
        limit = self.limit_for(method, path)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reply(send, 413, {"error": "body_too_large", "limit_bytes": limit})
            return
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        state = {"read": 0, "over": False, "replied": False}

        async def counting_receive() -> Message:
            if state["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    state["over"] = True  # the app sees a disconnect and stops reading
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not state["over"]:
                await send(message)
            elif not state["replied"] and message["type"] == "http.response.start":
                state["replied"] = True  # whatever the app made of the cut-off body, the answer is 413
                await _reply(send, 413, {"error": "body_too_large", "limit_bytes": limit})

        await self.app(scope, counting_receive, guarded_send)
        if state["over"] and not state["replied"]:
            await _reply(send, 413, {"error": "body_too_large", "limit_bytes": limit})


class LoginGate:
    """The outermost layer: while every login slot is taken, a login is answered `429 login_busy` before any
    other middleware (cookie signature, headers) or the body costs the event loop anything."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"], scope["path"]) in ANONYMOUS and logins_saturated():
            await _reply(send, 429, {"error": "login_busy", "retry_after_s": 1}, retry_after=1)
            return
        await self.app(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _live_session(scope: Scope) -> bool:
    session = scope.get("session") or {}
    uid = session.get("uid")
    if not isinstance(uid, int):
        return False
    sessionmaker = scope["app"].state.sessionmaker

    def check() -> bool:
        with sessionmaker() as db:
            user = db.get(UserRow, uid)
            return user is not None and user.active and user.session_epoch == session.get("epoch")

    return await run_in_threadpool(check)


async def _not_authenticated(scope: Scope, send: Send) -> None:
    if scope["path"].startswith("/api/"):
        await _reply(send, 401, {"error": "not_authenticated"})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", f"/login?next={quote(scope['path'])}".encode()),
                (b"content-length", b"0"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _reply(send: Send, status: int, payload: dict[str, Any], *, retry_after: int | None = None) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    if status != 422:
        headers.append((b"connection", b"close"))  # the rest of the body is not read: do not reuse the socket
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
