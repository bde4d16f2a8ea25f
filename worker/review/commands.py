"""Command line: `intake review serve` and `intake users add NAME --role ...`.

worker/cli.py attaches the two groups (`review_group`, `users_group`) to the main `intake` command."""

from __future__ import annotations

import sys
from typing import Any

import click

from models.settings import get_settings
from worker.review import i18n
from worker.store.db import make_engine, session_scope
from worker.store.review import ROLES, append_audit, ensure_schema


@click.group("review", help="The review web application.")
def review_group() -> None:
    pass


@review_group.command("serve", help="Serve the review app (FastAPI + server-rendered pages) with uvicorn.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    from worker.review.app import create_app

    settings = get_settings()
    if not settings.secure_cookies and host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            "warning: INTAKE_SECURE_COOKIES is off; serve behind HTTPS and set it to true in production", err=True
        )
    # log_config=None: uvicorn's access log goes through our handlers, whose filter masks ID numbers
    common: dict[str, Any] = {"host": host, "port": port, "proxy_headers": True, "log_config": None}
    if workers > 1:
        uvicorn.run("worker.review.app:app_from_env", factory=True, workers=workers, **common)
    else:
        uvicorn.run(create_app(settings), **common)


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
    from worker.review.auth import create_user

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
        messages = {**i18n.MESSAGES["en"], "password_too_short": "password too short (at least 10 characters)"}
        message = messages.get(str(exc), str(exc)) if str(exc).startswith("password_") else str(exc)
        raise click.UsageError(message) from None
    finally:
        engine.dispose()
    click.echo(f"added {role} {name}")


def main() -> None:  # `python -m worker.review.commands` until worker/cli.py attaches the groups
    cli = click.Group(commands={"review": review_group, "users": users_group})
    cli()


if __name__ == "__main__":
    main()
