"""Create or upgrade the database schema with Alembic: `upgrade(url)` is what every process calls on start.

The Alembic environment lives in `worker/store/migrations/` (with `alembic.ini` at the repository root, so the usual
`alembic revision --autogenerate -m ...` works from a checkout). Several processes may start at once (two
workers and the review app), so the upgrade runs under a lock: a PostgreSQL advisory lock, or a lock file
next to a SQLite database."""

from __future__ import annotations

import fcntl
import importlib
import logging
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from worker.store.db import Base, make_engine, with_connect_timeout

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"  # package data: found in a wheel install too
# any constant shared by every process of this product; pg_advisory_lock takes a bigint
_PG_LOCK_KEY = 0x1A7D_0001


def import_table_modules() -> None:
    """Import every module of worker.store so all tables are registered on Base.metadata (by name: a new
    table module is found without being listed here)."""
    for info in pkgutil.iter_modules([str(Path(__file__).resolve().parent)]):
        if info.name not in ("migrate",):
            importlib.import_module(f"worker.store.{info.name}")


def open_database(url: str) -> Engine:
    """An engine on a database whose schema is at the current version (created or migrated as needed).
    PostgreSQL URLs get a connect timeout unless they name one (db.with_connect_timeout)."""
    url = with_connect_timeout(url)
    upgrade(url)
    return make_engine(url)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # Alembic's ini interpolation treats % specially (URL-encoded passwords)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    lock_path = Path(f"{database}.migrate.lock") if database and database != ":memory:" else None
    if lock_path is None:
        with engine.connect() as conn:
            yield conn
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade(url: str | Engine, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (creating it from scratch when empty). Idempotent, cheap
    when already current, safe to call from several processes at once."""
    if isinstance(url, Engine):
        engine, owned = url, False
    else:
        # the app's SQLite settings (WAL, commits not synced one by one), without enforcing foreign keys
        engine, owned = make_engine(url, foreign_keys=False), True
    try:
        import_table_modules()
        head = head_revision()
        with engine.connect() as conn:
            if revision == "head" and current_revision(conn) == head and _all_tables_present(conn):
                return
        with _migration_lock(engine) as conn:
            cfg = alembic_config(engine.url.render_as_string(hide_password=False))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
            _create_unmigrated_tables(conn)
    finally:
        if owned:
            engine.dispose()


def _all_tables_present(conn: Connection) -> bool:
    existing = set(inspect(conn).get_table_names())
    return all(name in existing for name in Base.metadata.tables)


def _create_unmigrated_tables(conn: Connection) -> None:
    """Development safety net: a table declared in code but not yet in any migration is created directly,
    loudly, so a teammate's new table works before the next `alembic revision --autogenerate`."""
    existing = set(inspect(conn).get_table_names())
    missing = [t for name, t in Base.metadata.tables.items() if name not in existing]
    if missing:
        log.warning(
            "tables not covered by any migration, created directly: %s (run `alembic revision --autogenerate`)",
            ", ".join(t.name for t in missing),
        )
        Base.metadata.create_all(conn, tables=missing)
        conn.commit()
