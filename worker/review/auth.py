"""Accounts, sessions, CSRF and roles.

Passwords: argon2id (argon2-cffi defaults). Sessions: Starlette's signed cookie holding the user id and the
user's session epoch; bumping the epoch (password reset, deactivation) logs every browser of that user out.
CSRF: a random token per session, required on every state-changing request as the `csrf_token` form field
or the `X-CSRF-Token` header (synchroniser-token pattern; the cookie alone never authorises a change)."""

# FastAPI's dependency injection is declared with Depends()/Form()/File() defaults; that is the idiom, not a bug
# ruff: noqa: B008

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.settings import Settings
from worker.store.review import ROLE_RANK, ROLES, UserRow

_hasher = PasswordHasher()
# verifying against this when the user does not exist keeps login timing the same for unknown names
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
MIN_PASSWORD_LENGTH = 10
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class NotAuthenticated(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, reason: str = "forbidden") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfFailed(Exception):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_policy(password: str) -> str | None:
    """An error key for the i18n table, or None when acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "password_too_short"
    return None


def verify_password(user: UserRow | None, password: str) -> bool:
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and user is not None and user.active


def needs_rehash(user: UserRow) -> bool:
    return _hasher.check_needs_rehash(user.password_hash)


def create_user(session: Session, name: str, role: str, password: str) -> UserRow:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    name = name.strip()
    if not name or len(name) > 80:
        raise ValueError("user name must be 1-80 characters")
    if problem := check_password_policy(password):
        raise ValueError(problem)
    if session.scalar(select(UserRow).where(UserRow.name == name)) is not None:
        raise ValueError(f"user {name!r} exists")
    user = UserRow(name=name, role=role, password_hash=hash_password(password), active=True, session_epoch=0)
    session.add(user)
    session.flush()
    return user


def has_role(user: UserRow, role: str) -> bool:
    return ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role]


def session_secret(settings: Settings) -> str:
    """The configured secret, else one generated once and kept under data_dir (mode 0600)."""
    if settings.session_secret:
        return settings.session_secret
    path = Path(settings.data_dir) / "session_secret"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret)
    tmp.chmod(0o600)
    tmp.replace(path)
    return path.read_text().strip()


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request) -> None:
    """Dependency for every state-changing route: header or form field must equal the session's token."""
    expected = request.session.get("csrf")
    supplied = request.headers.get(CSRF_HEADER)
    if not supplied and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached on the request: the endpoint's own Form(...) reads it again
        value = form.get(CSRF_FIELD)
        supplied = value if isinstance(value, str) else None
    if not expected or not supplied or not secrets.compare_digest(str(expected), supplied):
        raise CsrfFailed()


def db_session(request: Request) -> Iterator[Session]:
    """One SQLAlchemy session per request, committed when the handler returns normally."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def current_user(request: Request, db: Session = Depends(db_session)) -> UserRow | None:
    uid = request.session.get("uid")
    if uid is None:
        return None
    user = db.get(UserRow, uid)
    if user is None or not user.active or user.session_epoch != request.session.get("epoch"):
        request.session.pop("uid", None)
        return None
    return user


def require(role: str) -> Callable[..., UserRow]:
    """Route dependency: a logged-in user with at least `role`."""

    def _dependency(user: UserRow | None = Depends(current_user)) -> UserRow:
        if user is None:
            raise NotAuthenticated()
        if not has_role(user, role):
            raise Forbidden(f"needs role {role}")
        return user

    _dependency.__name__ = f"require_{role}"
    return _dependency


class LoginThrottle:
    """Slows password guessing: after 5 failures for a name, further attempts wait out a growing delay."""

    def __init__(self, free_attempts: int = 5, base_delay_s: float = 2.0, max_delay_s: float = 300.0) -> None:
        self.free_attempts = free_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def blocked_for(self, name: str) -> float:
        with self._lock:
            count, last = self._failures.get(name.lower(), (0, 0.0))
        if count < self.free_attempts:
            return 0.0
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (count - self.free_attempts))
        return max(0.0, last + delay - time.monotonic())

    def failed(self, name: str) -> None:
        with self._lock:
            count, _ = self._failures.get(name.lower(), (0, 0.0))
            self._failures[name.lower()] = (count + 1, time.monotonic())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name.lower(), None)
