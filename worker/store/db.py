"""Engine and session factory shared by every table module.

Table modules (registry/, results.py, review.py) declare their tables on `Base` so one Alembic
environment migrates them all. Opening a database at the current schema is worker.store.migrate's
`open_database`, which sits above this module (it imports `Base`; nothing here imports it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from worker.files import private_dir, private_file


class Base(DeclarativeBase):
    pass


def prepare_sqlite_file(url: str) -> None:
    """A SQLite database holds personal data: its folder is created 0700 and the file 0600 before SQLite
    opens it (SQLite gives its -wal and -shm files the database file's mode)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        private_dir(path.parent)
        private_file(path)


def make_engine(url: str, *, foreign_keys: bool = True) -> Engine:
    """`foreign_keys=False` only for migrations: SQLite's batch mode rebuilds tables other tables point at."""
    if url.startswith("sqlite:///"):
        prepare_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the review app read while a worker writes; NORMAL sync is durable across app crashes (and
            # does not sync every commit, which made the hundred DDL statements of a first migration seconds long)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            if foreign_keys:
                cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    session = sessionmaker(engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def with_connect_timeout(url: str, seconds: int = 10) -> str:
    """PostgreSQL URLs get a connect timeout unless they name one: a black-holed database host must
    surface as database_unavailable, not hang a worker forever."""
    if not url.startswith("postgresql") or "connect_timeout" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}connect_timeout={seconds}"
