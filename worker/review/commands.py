"""Command line: `intake review serve`, `intake export` and `intake users add NAME --role ...`.

worker/cli.py attaches them (`review_group`, `export_command`, `users_group`) to the main `intake` command."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from models.settings import Settings, get_settings
from worker.failures import EXIT_USAGE, CommandFailure, check_port_free
from worker.review import i18n
from worker.store.db import make_engine, session_scope
from worker.store.review import ROLES, UserRow, append_audit, ensure_schema


@click.group("review", help="The review web application.")
def review_group() -> None:
    pass


@review_group.command(
    "serve",
    help="Serve the review app (FastAPI + server-rendered pages) with uvicorn. With INTAKE_BOOTSTRAP_ADMIN_NAME "
    "and INTAKE_BOOTSTRAP_ADMIN_PASSWORD set (e.g. from a Kubernetes Secret), that admin is created on start "
    "unless a user of that name exists.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    # here, not at the top: every `intake` command loads this module, and only `serve` needs uvicorn and FastAPI
    import uvicorn

    from worker.review.app import create_app

    settings = get_settings()
    check_port_free(host, port)
    if not settings.secure_cookies and host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            "warning: INTAKE_SECURE_COOKIES is off; serve behind HTTPS and set it to true in production", err=True
        )
    engine = make_engine(settings.resolved_database_url)
    ensure_schema(engine)  # once, here: a database that does not answer stops the command with one line
    if created := bootstrap_admin(engine, settings):
        click.echo(f"created admin {created} from INTAKE_BOOTSTRAP_ADMIN_NAME", err=True)
    # log_config=None: uvicorn's access log goes through our handlers, whose filter masks ID numbers
    common: dict[str, Any] = {"host": host, "port": port, "proxy_headers": True, "log_config": None}
    if workers > 1:
        engine.dispose()
        uvicorn.run("worker.review.app:app_from_env", factory=True, workers=workers, **common)
    else:
        uvicorn.run(create_app(settings, engine=engine, create_tables=False), **common)


def bootstrap_admin(engine: Engine, settings: Settings) -> str | None:
    """Create the first admin from INTAKE_BOOTSTRAP_ADMIN_NAME/_PASSWORD unless a user of that name exists
    (so a password changed since is never reset). Returns the name when it created the user. The password is
    never logged or echoed."""
    name = (settings.bootstrap_admin_name or "").strip()  # empty counts as unset (compose's ${ADMIN_NAME:-})
    password = settings.bootstrap_admin_password.get_secret_value() if settings.bootstrap_admin_password else ""
    if not name and not password:
        return None
    if not name or not password:
        raise CommandFailure(
            "set both INTAKE_BOOTSTRAP_ADMIN_NAME and INTAKE_BOOTSTRAP_ADMIN_PASSWORD (or neither)", EXIT_USAGE
        )
    from worker.review.auth import create_user  # here: it brings FastAPI, argon2 and zxcvbn (see `serve`)

    try:
        with session_scope(engine) as session:
            if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                return None
            create_user(session, name, "admin", password)
            append_audit(
                session, user=None, user_name="bootstrap", action="user_add", detail={"name": name, "role": "admin"}
            )
    except IntegrityError:  # another replica created it at the same moment
        return None
    except ValueError as exc:
        raise CommandFailure(f"INTAKE_BOOTSTRAP_ADMIN_*: {_password_problem(exc)}", EXIT_USAGE) from None
    return name


def _password_problem(exc: ValueError) -> str:
    messages = {**i18n.MESSAGES["en"], "password_too_short": "password too short (at least 10 characters)"}
    return messages.get(str(exc), str(exc)) if str(exc).startswith("password_") else str(exc)


@click.command("export")
@click.option("--since", help="Only changes decided (or auto-accepted) at or after this ISO date or date-time (UTC).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json", "xlsx"]), default="csv", show_default=True,
    help="CSV is UTF-8 with a byte-order mark (opens in Excel); XLSX keeps ID numbers as text.",
)  # fmt: skip
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="File to write (default: vbdlis-changes-<time>.<format> in the current folder; '-' for stdout).",
)  # fmt: skip
@click.option("--commune", help="Only this commune code (5 digits).")
@click.option("--include-sent", is_flag=True, help="Also list changes sent before (they are not marked again).")
@click.option("--dry-run", is_flag=True, help="Write the file but do not mark the changes as sent.")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="Language of reasons.")
def export_command(
    since: str | None,
    fmt: str,
    output: Path | None,
    commune: str | None,
    include_sent: bool,
    dry_run: bool,
    lang: str,
) -> None:
    """Write the changes for VBDLIS that have not been sent yet (reviewers' accepts and new records, and
    auto-accepted matches no person needs to see), one row per parcel-owner change, and mark them as sent so
    the next export starts after them."""
    from worker.review import export, worklist  # here: they bring FastAPI (see `serve`)

    try:
        since_at = export.parse_since(since)
    except ValueError:
        raise click.BadParameter(
            "an ISO date or date-time, e.g. 2026-12-01 or 2026-12-01T08:00", param_hint="--since"
        ) from None
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    ensure_schema(engine)
    f = export.ExportFilter(since=since_at, commune=commune, include_sent=include_sent)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = output or Path(f"vbdlis-changes-{stamp}.{fmt}")
    try:
        with session_scope(engine) as session:
            while worklist.sync(session):
                pass
            rows = export.export_rows(session, f, lang=lang)
            body = export.encode(rows, fmt)
            if str(target) == "-":
                if fmt == "xlsx":
                    raise click.UsageError("XLSX needs a file: use --output FILE")
                sys.stdout.buffer.write(body)
                sys.stdout.flush()
            else:
                target.write_bytes(body)
            batch = None
            if not dry_run and rows:
                batch = export.mark_sent(session, rows, user_name="cli", fmt=fmt, f=f)
            append_audit(
                session, user=None, user_name="cli", action="export", detail=export.audit_detail(fmt, f, rows, batch)
            )
    finally:
        engine.dispose()
    where = "stdout" if str(target) == "-" else str(target)
    sent = f"; marked as sent (batch {batch.id})" if batch else ("; not marked (--dry-run)" if dry_run else "")
    subs = len({r["submission_id"] for r in rows})
    click.echo(f"exported {len(rows)} change(s) of {subs} submission(s) to {where}{sent}", err=True)


@click.group("users", help="Review app accounts.")
def users_group() -> None:
    pass


def _read_password() -> str:
    """From stdin when piped (scripts, provisioning); otherwise an interactive prompt asked twice."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_group.command("add", help="Add a user. The password is read from stdin when not a terminal, else prompted.")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="clerk: upload; reviewer: decide; admin: manage.")
def add_user(name: str, role: str) -> None:
    from worker.review.auth import create_user  # here: it brings FastAPI, argon2 and zxcvbn (see `serve`)

    password = _read_password()
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            user = create_user(session, name, role, password)
            append_audit(
                session, user=None, user_name="cli", action="user_add", detail={"name": user.name, "role": role}
            )
    except ValueError as exc:
        raise click.UsageError(_password_problem(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"added {role} {name}")


def main() -> None:  # `python -m worker.review.commands` until worker/cli.py attaches the groups
    cli = click.Group(commands={"review": review_group, "users": users_group, "export": export_command})
    cli()


if __name__ == "__main__":
    main()
