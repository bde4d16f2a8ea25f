"""What went wrong, in one line a person can act on, and the exit code it means: the `intake` commands'
single mapping from exceptions (a database that does not answer, AWS without credentials or region, a
setting that does not parse, a file that is not what it should be, a port in use) to the README's codes.

Exit codes (stable): 0 ok (per-document failures are reported, not fatal), 2 bad usage (an option, an
argument or a setting with an invalid value), 3 a required input or service is missing or unusable,
130 interrupted. An exception this module does not know is a bug and keeps its traceback."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import click
from botocore import exceptions as bx
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

from models.errors import ErrorCode
from models.settings import get_settings
from worker.errors import IntakeError

EXIT_OK, EXIT_USAGE, EXIT_MISSING, EXIT_INTERRUPTED = 0, 2, 3, 130

# settings whose value is never echoed back (a database URL carries its password)
_SECRET_WORDS = ("password", "secret", "token", "database_url", "key_id", "access_key")


class CommandFailure(click.ClickException):
    """A failure the user can fix: printed as one ``error: ...`` line, exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_MISSING) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # a class attribute in click, one per failure here

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def check_port_free(host: str, port: int, option: str = "--port") -> None:
    """Fail with a clear line before a server binds a port another process holds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandFailure(
                    f"port {port} on {host} is already in use: stop the process holding it or choose another "
                    f"with {option}"
                ) from None
            raise CommandFailure(f"cannot listen on {host}:{port}: {exc.strerror}; choose another with {option}") from None


def explain(exc: BaseException) -> CommandFailure | None:
    """The one-line failure for ``exc`` (or something it was raised from), or None for a bug."""
    if isinstance(exc, CommandFailure):
        return exc
    chain = list(_chain(exc))
    for explainer in _SPECIFIC:
        for link in chain:
            failure = explainer(link)
            if failure is not None:
                return failure
    for link in chain:
        failure = _intake_error(link)
        if failure is not None:
            return failure
    return None


def run(group: click.Group, prog_name: str | None = None) -> NoReturn:
    """Run a click group as a program: known failures become one line and their exit code."""
    try:
        code = group.main(prog_name=prog_name, standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:  # usage errors (2) and CommandFailure
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        failure = explain(exc)
        if failure is None:
            raise
        failure.show()
        sys.exit(failure.exit_code)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""


# ------------------------------------------------------------------------------------------- explainers


def _settings_error(exc: BaseException) -> CommandFailure | None:
    if not isinstance(exc, ValidationError) or exc.title != "Settings":
        return None
    parts = []
    for error in exc.errors():
        if not error["loc"]:  # a check across settings: its message names them
            parts.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        name = str(error["loc"][0])
        env = name.upper() if name.upper().startswith("AWS_") else f"INTAKE_{name.upper()}"
        shown = "" if any(w in name.lower() for w in _SECRET_WORDS) else f"={error.get('input')!s}"
        parts.append(f"{env}{shown}: {error['msg']}")
    return CommandFailure(
        "invalid setting " + "; ".join(parts) + " (fix or unset it; the README's configuration table lists them)",
        EXIT_USAGE,
    )


def _database_error(exc: BaseException) -> CommandFailure | None:
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return CommandFailure(
            f"INTAKE_DATABASE_URL is not a database URL this program can use ({_first_line(exc)}); "
            "e.g. postgresql+psycopg://user:password@host:5432/intake",
            EXIT_USAGE,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        reason = _first_line(getattr(exc, "orig", None) or exc)
        return CommandFailure(
            f"the database is not reachable ({_database_shown()}: {reason}); start it, or set "
            "INTAKE_DATABASE_URL to one that is"
        )
    return None


def _database_shown() -> str:
    """The configured database URL without its password."""
    try:
        return make_url(get_settings().resolved_database_url).render_as_string(hide_password=True)
    except Exception:
        return "INTAKE_DATABASE_URL"


_AWS_AUTH_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
     "InvalidClientTokenId", "UnrecognizedClientException", "InvalidToken", "AuthFailure"}
)  # fmt: skip
_AWS_MISSING_CODES = frozenset(
    {"NoSuchBucket", "NoSuchKey", "404", "NotFound", "AWS.SimpleQueueService.NonExistentQueue",
     "QueueDoesNotExist"}
)  # fmt: skip


def _aws_error(exc: BaseException) -> CommandFailure | None:
    if isinstance(exc, bx.NoRegionError):
        return CommandFailure(
            "no AWS region is configured: set AWS_REGION (or AWS_DEFAULT_REGION) to the region of the queue and bucket"
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError):
        return CommandFailure(
            f"no usable AWS credentials ({_first_line(exc)}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE), or run with an IAM role (deploy/README.md lists the permissions)"
        )
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return CommandFailure(
            f"the S3/SQS endpoint is not reachable ({_first_line(exc)}); check AWS_ENDPOINT_URL (or "
            "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SQS) and that the service is running"
        )
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", "") or "")
        operation = getattr(exc, "operation_name", "the request")
        if code in _AWS_AUTH_CODES:
            return CommandFailure(
                f"AWS refused {operation} ({code}: {message}); check the credentials and the IAM policy "
                "(deploy/README.md lists the permissions)"
            )
        if code in _AWS_MISSING_CODES:
            return CommandFailure(
                f"{operation}: {code}{': ' + message if message else ''}; check the bucket, key or INTAKE_QUEUE_URL"
            )
        return CommandFailure(f"AWS {operation} failed ({code}: {message})")
    return None


def _os_error(exc: BaseException) -> CommandFailure | None:
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    if exc.errno == errno.EADDRINUSE:
        return CommandFailure(
            "a port this command listens on is already in use: stop the process holding it or choose another port"
        )
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return CommandFailure(f"{where}no space left on the device; free some or point INTAKE_DATA_DIR elsewhere")
    if exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EROFS):
        return CommandFailure(f"{where}{exc.strerror}")
    return None


def _intake_error(exc: BaseException) -> CommandFailure | None:
    if isinstance(exc, IntakeError) and exc.code is not ErrorCode.INTERNAL:
        return CommandFailure(f"{exc.message} ({exc.code.value})")
    return None


_SPECIFIC: tuple[Callable[[BaseException], CommandFailure | None], ...] = (
    _settings_error,
    _database_error,
    _aws_error,
    _os_error,
)
