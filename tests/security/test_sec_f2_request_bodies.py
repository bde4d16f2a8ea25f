"""F2: authenticate before reading any body; a maximum body size per route, enforced while streaming. Driven
over real sockets against uvicorn: the server must answer while most of a huge body is still unsent."""

from __future__ import annotations

import contextlib
import select
import socket
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from sec_support import PASSWORD, Server
from sqlalchemy import event
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from worker.store.review import UserRow

pytestmark = pytest.mark.security

GIB = 2**30


def _session(server: Server, name: str | None) -> tuple[str, str]:
    """(Cookie header, CSRF token) of a fresh session, logged in as `name` when given."""
    with httpx.Client(base_url=server.url) as c:
        token = c.get("/api/session").json()["csrf_token"]
        if name:
            r = c.post("/api/session", json={"name": name, "password": PASSWORD}, headers={"X-CSRF-Token": token})
            token = r.json()["csrf_token"]
        return "; ".join(f"{k}={v}" for k, v in c.cookies.items()), token


def _send_head_and_part(server: Server, head: str, part: bytes) -> tuple[int, bytes]:
    """Send the request head and the first part of its body (64 KiB at a time, stopping as soon as the server
    answers), then read the answer; the rest of the body is never sent. Raises TimeoutError when the server
    keeps waiting for the body."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        for start in range(0, len(part), 65536):
            if select.select([sock], [], [], 0.05)[0]:
                break  # answered already: the server did not wait for the body
            try:
                sock.sendall(part[start : start + 65536])
            except (ConnectionResetError, BrokenPipeError):
                break
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):  # the guard closes the connection after its answer
                data += chunk
    status = int(data.split(b" ", 2)[1]) if data else 0
    return status, data


def _multipart_head(path: str, length: int, cookie: str = "", token: str = "") -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: multipart/form-data; boundary=XyZ",
        f"Content-Length: {length}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if token:
        lines.append(f"X-CSRF-Token: {token}")
    return "\r\n".join(lines) + "\r\n\r\n"


PART = b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n\r\n' + b"\xff" * 65536


def _temp_bytes() -> int:
    return sum(p.stat().st_size for p in Path(tempfile.gettempdir()).glob("tmp*") if p.is_file())


def test_a_cookieless_2_gib_upload_is_refused_before_its_body_is_read(review_server: Server) -> None:
    before = _temp_bytes()
    status, _ = _send_head_and_part(review_server, _multipart_head("/upload", 2 * GIB), PART)
    assert status == 303  # to the login page, at once
    status, data = _send_head_and_part(review_server, _multipart_head("/api/uploads", 2 * GIB), PART)
    assert status == 401 and b"not_authenticated" in data
    assert _temp_bytes() - before < 1024 * 1024  # nothing was spooled


def test_a_forged_or_stale_cookie_is_no_session(review_server: Server) -> None:
    cookie, token = _session(review_server, "clerk")
    with httpx.Client(base_url=review_server.url, headers={"Cookie": cookie, "X-CSRF-Token": token}) as c:
        assert c.delete("/api/session").status_code == 204  # logging out makes the copied cookie worthless
    status, _ = _send_head_and_part(review_server, _multipart_head("/api/uploads", 2 * GIB, cookie, token), PART)
    assert status == 401


def test_logout_is_committed_before_its_answer(review_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # a slow commit (fault injection) must not let the answer overtake it: a cookie copied before logout would be
    # live until the commit lands, and a body sent with it would be read (this raced in CI under load)
    def slow_commit(_session: Session) -> None:
        time.sleep(0.5)

    cookie, token = _session(review_server, "clerk")  # logged in at full speed: the logout is what is slowed
    event.listen(Session, "before_commit", slow_commit)
    try:
        with httpx.Client(base_url=review_server.url, headers={"Cookie": cookie, "X-CSRF-Token": token}) as c:
            epoch = _epoch(review_server, "clerk")
            assert c.delete("/api/session").status_code == 204
            assert _epoch(review_server, "clerk") == epoch + 1  # already committed when the answer came
    finally:
        event.remove(Session, "before_commit", slow_commit)


def _epoch(server: Server, name: str) -> int:
    with Session(server.review.engine) as db:
        return int(db.scalar(sql_select(UserRow.session_epoch).where(UserRow.name == name)) or 0)


def test_a_logged_in_clerk_cannot_send_more_than_the_upload_limit(review_server: Server) -> None:
    cookie, token = _session(review_server, "clerk")
    settings = review_server.review.settings
    too_big = settings.max_file_bytes * 50 + 2 * 1024 * 1024
    status, data = _send_head_and_part(review_server, _multipart_head("/api/uploads", too_big, cookie, token), PART)
    assert status == 413 and b"body_too_large" in data


def test_a_chunked_body_is_cut_off_while_it_streams(review_server: Server) -> None:
    cookie, token = _session(review_server, "rev")
    head = "\r\n".join(
        [
            "POST /api/items/S-1/notes HTTP/1.1",
            "Host: 127.0.0.1",
            "Content-Type: application/json",
            "Transfer-Encoding: chunked",
            f"Cookie: {cookie}",
            f"X-CSRF-Token: {token}",
        ]
    )
    chunk = b'{"note": "' + b"x" * 65536
    body = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(20))  # 1.3 MB, never ended
    status, data = _send_head_and_part(review_server, head + "\r\n\r\n", body)
    assert status == 413 and b"body_too_large" in data


def test_small_bodies_still_work(review_server: Server) -> None:
    cookie, token = _session(review_server, "rev")
    with httpx.Client(base_url=review_server.url, headers={"Cookie": cookie, "X-CSRF-Token": token}) as c:
        assert c.post("/api/items/S-1/notes", json={"note": "looks fine"}).status_code == 200
