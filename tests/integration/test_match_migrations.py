"""The Alembic migrations alone build the whole application schema: registry, results (submissions,
documents, proposals, jobs), review tables and the audit log's append-only triggers, on PostgreSQL and
SQLite. A fresh database migrated by `open_database` must not need the development safety net that
creates unmigrated tables directly."""

from __future__ import annotations

import logging

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from worker.store.db import Base
from worker.store.migrate import current_revision, head_revision, import_table_modules, open_database


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migrations_cover_every_table_the_app_uses(
    backend: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    import_table_modules()
    with caplog.at_level(logging.WARNING, logger="worker.store.migrate"):
        engine = open_database(url)
    assert not [r for r in caplog.records if "not covered by any migration" in r.getMessage()]
    tables = set(inspect(engine).get_table_names())
    for expected in (
        "registry_parcels",
        "registry_owners",
        "submissions",
        "documents",
        "proposals",
        "jobs",
        "source_objects",
        "users",
        "review_queue",
        "review_leases",
        "decisions",
        "audit_log",
        "review_settings",
        "uploads",
        "submission_findings",
    ):
        assert expected in tables
    assert set(Base.metadata.tables) <= tables
    assert "fields" not in tables  # write-only, dropped by 0005 (the fields are in documents.payload)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        # what autogenerate would write for a new revision: nothing (tables, columns, indexes, types)
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], diff
    # the audit log is append-only straight after migration (the triggers came with the migration)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_log (at, user_name, action, detail) VALUES (CURRENT_TIMESTAMP, 's', 'x', '{}')")
        )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET action = 'y'"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    engine.dispose()
