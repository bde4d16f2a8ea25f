"""Shared fixtures: real services, no mocks of them.

- ``moto_server``: one moto server (S3 + SQS, with real S3→SQS bucket-notification delivery) per test
  session on a free loopback port; yields its endpoint URL with fake AWS credentials in the environment
  (``AWS_ENDPOINT_URL``, so ``worker.aws.client("sqs")`` and subprocesses reach it too; the region is in
  ``AWS_REGION`` only, which plain ``boto3.client("sqs")`` ignores). Its state is
  shared by the whole session: create buckets and queues with unique names (``unique_name``).
- ``postgres_url``: a fresh throwaway database on 127.0.0.1:5432 (user postgres), dropped afterwards;
  the test is skipped with the reason when PostgreSQL is not reachable.
- ``sqlite_url``: a SQLite database file in the test's tmp_path.
- ``simple_scan``: ``simple_scan(nonce)`` renders a small, real PNG of a certificate-like text page (distinct
  bytes per nonce) for tests that need a readable scan but not a realistic document; use fixtures.samples
  for realistic ones.
- ``tcp_proxy``: ``tcp_proxy(host, port)`` starts a loopback TCP forwarder whose ``stop()``/``start()``
  make the service behind it really unavailable and back (fault injection without mocks).
- ``recorded_reader`` (tests/plugins/ocr.py): the OCR reader extraction tests run on, replaying what Tesseract
  returned (``pytest --record-ocr`` records it again); with it they need no Tesseract.
- ``worker_process``: ``worker_process(*args, env=...)`` starts ``python -m worker.intake worker ...`` as a
  real subprocess (stdout/stderr to a log file); every one still running is SIGKILLed at teardown.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugins.ocr import pytest_addoption, recorded_reader

__all__ = ["pytest_addoption", "recorded_reader"]  # the recorded reader's option and fixture, for every test

# the review app's test environment (its seeded database, users and logged-in clients): tests/review_env.py
pytest_plugins = ["review_env"]

PG_HOST = os.environ.get("INTAKE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("INTAKE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("INTAKE_TEST_PG_USER", "postgres")

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    # only AWS_REGION, as compose and k8s set it: botocore alone would ignore it (worker.aws reads it), so a
    # client made without worker.aws fails here as it would in production; tests/e2e/test_aws.py runs the
    # product with AWS_DEFAULT_REGION alone too
    "AWS_REGION": "us-east-1",
    # never fall back to a developer's real profile or the instance metadata service
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def unique_name(prefix: str = "t") -> str:
    """A name valid as an S3 bucket and an SQS queue (lower case, digits, dashes, 3-63 chars)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(name="unique_name")
def unique_name_fixture() -> object:
    return unique_name


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO; hundreds of lines per test drown the real failure
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _AWS_ENV.items():
            mp.setenv(name, value)
        mp.delenv("AWS_DEFAULT_REGION", raising=False)
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        try:
            yield endpoint
        finally:
            server.stop()


def _pg_connect(dbname: str = "postgres"):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, connect_timeout=3, autocommit=True)


# a throwaway database's commits need not wait for the disk (a crash of the server would only lose the last
# ones, never corrupt): the server's other databases keep synchronous commits
THROWAWAY_DATABASE = 'ALTER DATABASE "{name}" SET synchronous_commit = off'


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of an empty database that exists only for this test."""
    try:
        admin = _pg_connect()
    except Exception as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} as {PG_USER}: {exc}")
    name = f"intake_test_{uuid.uuid4().hex[:16]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(THROWAWAY_DATABASE.format(name=name))
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _pg_connect() as admin:
            # FORCE: a worker subprocess killed mid-test may still hold a connection
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{(tmp_path / 'intake.db').as_posix()}"


def render_simple_scan(nonce: str = "", *, size: tuple[int, int] = (1240, 820)) -> bytes:
    """A PNG with a few lines of Vietnamese text, as a flatbed scan of a plain page would look."""
    import io

    from PIL import Image, ImageDraw

    from fixtures.fonts import font

    img = Image.new("RGB", size, (250, 249, 245))
    draw = ImageDraw.Draw(img)
    lines = [
        ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 34),
        ("Độc lập - Tự do - Hạnh phúc", 30),
        ("GIẤY CHỨNG NHẬN QUYỀN SỬ DỤNG ĐẤT", 40),
        (f"Thửa đất số: 345, tờ bản đồ số: 12   {nonce}", 30),
        ("Địa chỉ: Phường Vĩnh Ninh, TP. Huế", 30),
    ]
    y = 60
    for text, px in lines:
        draw.text((80, y), text, font=font("serif_bold", px), fill=(20, 20, 20))
        y += int(px * 2.2)
    out = io.BytesIO()
    img.save(out, format="PNG", dpi=(200, 200))
    return out.getvalue()


@pytest.fixture
def simple_scan():  # type: ignore[no-untyped-def]
    return render_simple_scan


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge image (a decompression bomb), a few hundred bytes on disk."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.fixture(name="huge_png")
def huge_png_fixture():  # type: ignore[no-untyped-def]
    return huge_png


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; stop() closes the listener and every open connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket

        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: object = None
        self._conns: list[object] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        import socket
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener) -> None:  # type: ignore[no-untyped-def]
        import socket
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:  # type: ignore[no-untyped-def]
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()

    def stop(self) -> None:
        import socket

        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone would leave the kernel accepting
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
            self._listener.close()  # type: ignore[attr-defined]
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
                sock.close()  # type: ignore[attr-defined]
            except OSError:
                pass


@pytest.fixture
def tcp_proxy():  # type: ignore[no-untyped-def]
    proxies: list[TcpProxy] = []

    def make(host: str, port: int) -> TcpProxy:
        proxy = TcpProxy(host, port).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def worker_process(tmp_path):  # type: ignore[no-untyped-def]
    import signal
    import subprocess
    import sys
    from pathlib import Path

    procs: list[subprocess.Popen[bytes]] = []
    repo_root = Path(__file__).resolve().parent.parent

    def start(*args: str, env: dict[str, str] | None = None, name: str = "worker") -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}-{len(procs)}.log", "wb")  # noqa: SIM115 - lives as long as the process
        full_env = dict(os.environ, OMP_THREAD_LIMIT="1", PYTHONUNBUFFERED="1", **(env or {}))
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker.intake", "worker", *args],
            cwd=repo_root,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


SAMPLE_SET = Path(__file__).resolve().parents[1] / "fixtures" / "sample_set"


@pytest.fixture(scope="session")
def sample_set_documents() -> tuple[Path, list[dict[str, Any]]]:
    """The committed fixture set's root and every document of its ground truth (skips when it is absent)."""
    truth = SAMPLE_SET / "truth.jsonl"
    if not truth.exists():
        pytest.skip("no committed fixture set")
    docs = [d for line in truth.read_text(encoding="utf-8").splitlines() for d in json.loads(line)["documents"]]
    return SAMPLE_SET, docs
