"""Accounts, sessions, CSRF and roles.

Passwords: argon2id (argon2-cffi defaults), hashed and checked in a small bounded pool (`HashPool`): argon2
takes 64 MiB and ~50 ms of a core per check, so a login flood waits its turn (or is told to come back)
instead of exhausting memory and starving every other request. Policy: at least 10 characters that are not
all spaces, not the user name, and not a password zxcvbn can guess (its lists of leaked passwords, words and
keyboard patterns). Logins: the name is normalised once (worker.store.logins.name_key) for lookup and throttle
alike; attempts are throttled per name and per client address in the database (every app process shares
it). Sessions: Starlette's signed cookie holding the user id and the user's session epoch; bumping the epoch
(password reset, deactivation) logs every browser of that user out. CSRF: a random token per session,
required on every state-changing request as the `csrf_token` form field or the `X-CSRF-Token` header
(synchroniser-token pattern; the cookie alone never authorises a change)."""

# FastAPI's dependency injection is declared with Depends()/Form()/File() defaults; that is the idiom, not a bug
# ruff: noqa: B008

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from zxcvbn import zxcvbn

from models.settings import Settings
from worker.files import private_dir
from worker.store.logins import LoginThrottle, name_key
from worker.store.results import utcnow
from worker.store.review import ROLE_RANK, ROLES, UserRow, append_audit

_hasher = PasswordHasher()
# verifying against this when the user does not exist keeps login timing the same for unknown names
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_SCORE = 3  # zxcvbn: at least 10^8 guesses
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
T = TypeVar("T")


class NotAuthenticated(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, reason: str = "forbidden") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfFailed(Exception):
    pass


class HashPool:
    """Runs argon2 on at most `workers` threads. A login is admitted (`admitted()`) only while fewer than
    `workers + max_waiting` are in progress; past that it is refused at once (PoolBusy) instead of holding
    memory, a request thread and a database connection while it waits."""

    def __init__(self, workers: int, max_waiting: int) -> None:
        self.workers = workers
        self.capacity = workers + max_waiting
        self.admitted_now = 0  # read without a lock by the request guard: a hint, admitted() decides
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="argon2", initializer=_lower_thread_priority
        )
        self._slots = threading.BoundedSemaphore(self.capacity)

    @contextmanager
    def admitted(self, wait_s: float = 0.0) -> Iterator[None]:
        if not self._slots.acquire(timeout=wait_s) if wait_s else not self._slots.acquire(blocking=False):
            raise PoolBusy()
        self.admitted_now += 1
        try:
            yield
        finally:
            self.admitted_now -= 1
            self._slots.release()

    @property
    def full(self) -> bool:
        return self.admitted_now >= self.capacity

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Within an admitted login: hash on a pool thread without holding the event loop."""
        return await asyncio.wrap_future(self._executor.submit(fn, *args))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """From a request thread (admin forms, the CLI): waits its turn."""
        with self.admitted(wait_s=120.0):
            return self._executor.submit(fn, *args).result()


def _lower_thread_priority() -> None:
    """Hashing threads run at nice 10 (Linux schedules threads one by one): a login flood's hashing then
    takes the CPU the pages and /healthz leave over instead of competing with them."""
    with suppress(AttributeError, OSError):  # not Linux, or not allowed: the pool bound still holds
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class PoolBusy(Exception):
    """Too many password checks are waiting already: the client should come back in a moment."""


# half the cores (one on the 2-core office server): the other half keeps serving pages during a login flood
_pool = HashPool(workers=max(1, (os.cpu_count() or 2) // 2), max_waiting=8)


def logins_saturated() -> bool:
    """Every login slot is taken: the request guard answers `login_busy` before reading the body."""
    return _pool.full


def hash_password(password: str) -> str:
    return _pool.call(lambda: _hasher.hash(password))


def check_password_policy(password: str, name: str | None = None) -> str | None:
    """An error key for the i18n table, or None when acceptable."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return "password_too_long"
    if len(password.strip()) < MIN_PASSWORD_LENGTH:
        return "password_too_short"
    key = name_key(name) if name else ""
    folded = name_key(password)
    if key and (folded == key or (len(key) >= 4 and key in folded)):
        return "password_is_name"
    # zxcvbn reads at most 72 characters; a longer pass phrase is judged by its start
    if zxcvbn(password[:72], user_inputs=[key] if key else [])["score"] < MIN_PASSWORD_SCORE:
        return "password_too_weak"
    return None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def verify_password(user: UserRow | None, password: str) -> bool:
    ok = _pool.call(_verify, user.password_hash if user else _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
    return ok and user is not None and user.active


def needs_rehash(user: UserRow) -> bool:
    return _hasher.check_needs_rehash(user.password_hash)


def create_user(session: Session, name: str, role: str, password: str) -> UserRow:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    name = " ".join(name.split())
    if not name or len(name) > 80:
        raise ValueError("user name must be 1-80 characters")
    if problem := check_password_policy(password, name):
        raise ValueError(problem)
    key = name_key(name)
    if session.scalar(select(UserRow).where((UserRow.name == name) | (UserRow.name_key == key))) is not None:
        raise ValueError(f"user {name!r} exists")
    user = UserRow(
        name=name, name_key=key, role=role, password_hash=hash_password(password), active=True, session_epoch=0
    )
    session.add(user)
    session.flush()
    return user


@dataclass
class LoginResult:
    status: str  # ok | failed | throttled | busy
    user: UserRow | None = None
    wait_s: float = 0.0


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def attempt_login(request: Request, db: Session, name: str, password: str) -> LoginResult:
    """One login attempt, for the page and the API alike: charged to the name's and the address's throttle
    before the (pooled) password check; the failed attempt is audited, a success forgives the name. No
    database connection is held while the check waits for the pool."""
    try:
        with _pool.admitted():
            return await _attempt(request, db, name[:200], password)
    except PoolBusy:
        return LoginResult("busy", wait_s=1.0)


async def _attempt(request: Request, db: Session, name: str, password: str) -> LoginResult:
    throttle: LoginThrottle = request.app.state.throttle
    address = client_address(request)
    wait = await run_in_threadpool(throttle.charge, name, address)
    if wait > 0:
        return LoginResult("throttled", wait_s=wait)
    found = await run_in_threadpool(_credentials, request.app.state.sessionmaker, name_key(name))
    ok = await _pool.run(_verify, found[1] if found else _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
    user = await run_in_threadpool(db.get, UserRow, found[0]) if ok and found else None
    if user is None or not user.active:
        await run_in_threadpool(append_audit, db, user=None, user_name=name[:80] or "?", action="login_failed")
        return LoginResult("failed")
    await run_in_threadpool(throttle.forgive, name, address)
    if needs_rehash(user):
        user.password_hash = await _pool.run(_hasher.hash, password)
    user.last_login_at = utcnow()
    await run_in_threadpool(append_audit, db, user=user, action="login")
    return LoginResult("ok", user=user)


def _credentials(sessionmaker: Callable[[], Session], key: str) -> tuple[int, str] | None:
    """(id, password hash) of the account a normalised name logs in to, read in a transaction of its own."""
    if not key:
        return None
    with sessionmaker() as session:
        row = session.execute(select(UserRow.id, UserRow.password_hash).where(UserRow.name_key == key)).first()
    return (row[0], row[1]) if row else None


def has_role(user: UserRow, role: str) -> bool:
    return ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role]


def session_secret(settings: Settings) -> str:
    """The configured secret, else one generated once and kept under data_dir (mode 0600)."""
    if settings.session_secret:
        return settings.session_secret
    path = Path(settings.data_dir) / "session_secret"
    if path.is_file():
        return path.read_text().strip()
    private_dir(path.parent, tighten=path.parent == Path(settings.data_dir))
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
    if not expected:  # no session token to compare with: refuse before reading any body
        raise CsrfFailed()
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
    """One SQLAlchemy session per request, committed when the handler returns normally (routes take it as `DB`)."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# every route takes its database session through this one dependency: scope="function" ends it (the commit)
# before the answer is sent, so a logout is never answered while a copied cookie is still live
DB = Depends(db_session, scope="function")


def current_user(request: Request, db: Session = DB) -> UserRow | None:
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
