"""The CLI's failure table (issue 17): every missing service, bad setting or bad file gives one line that says
what to do and the README's exit code (2 bad usage or setting, 3 a required input or service missing), never
a traceback. Each row runs the real `intake` program in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from worker.progress import EtaColumn, eta_seconds

INTAKE = [sys.executable, "-m", "worker"]
# no AWS configuration from the machine: credentials, region and endpoints only as each test gives them
_BARE_AWS = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def run_intake(
    *args: str, data_dir: Path, env: dict[str, str] | None = None, stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {"INTAKE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "OMP_THREAD_LIMIT": "1", **_BARE_AWS}
    return subprocess.run(
        [*INTAKE, *args], input=stdin, capture_output=True, text=True, env={**base, **(env or {})}, timeout=timeout
    )


def assert_one_line(proc: subprocess.CompletedProcess[str], code: int, *phrases: str) -> str:
    """Exit ``code``, no traceback, and an ``error: ...`` line holding every phrase; returns that line."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1, proc.stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def unreachable_postgres(postgres_url: str, tcp_proxy) -> str:  # type: ignore[no-untyped-def]
    """The URL of a real PostgreSQL database behind a proxy that has been stopped: connections are refused."""
    parts = urlsplit(postgres_url)
    proxy = tcp_proxy(parts.hostname, parts.port)
    proxy.stop()
    return urlunsplit(parts._replace(netloc=f"{parts.username}:secret-pw@127.0.0.1:{proxy.port}"))


@pytest.mark.postgres
@pytest.mark.parametrize(
    "args",
    [("process", "{inbox}"), ("worker", "--drain"), ("users", "add", "an", "--role", "admin"), ("review", "serve")],
    ids=["process", "worker", "users-add", "review-serve"],
)
def test_postgres_down_is_one_line_and_exit_3(unreachable_postgres: str, tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "inbox").mkdir()
    argv = [a.format(inbox=tmp_path / "inbox") for a in args]
    if args[0] == "review":
        argv += ["--port", str(_free_port())]
    proc = run_intake(
        *argv, data_dir=tmp_path, env={"INTAKE_DATABASE_URL": unreachable_postgres}, stdin="a-long-password\n"
    )
    line = assert_one_line(proc, 3, "the database is not reachable", "INTAKE_DATABASE_URL")
    assert "secret-pw" not in proc.stderr and "***" in line  # the URL is shown without its password


def test_a_file_that_is_no_registry_export_is_refused_in_one_line(tmp_path: Path, simple_scan) -> None:  # type: ignore[no-untyped-def]
    wrong_columns = tmp_path / "parcels.csv"
    wrong_columns.write_text("so_thua,to_ban_do\n1,2\n", encoding="utf-8")
    picture = tmp_path / "export.csv"
    picture.write_bytes(simple_scan("not a table"))
    for path in (wrong_columns, picture):
        proc = run_intake("parcels", "import", str(path), data_dir=tmp_path)
        assert_one_line(proc, 3, path.name, "not a registry export", "parcel_id")
    missing = run_intake("parcels", "import", str(tmp_path / "absent.csv"), data_dir=tmp_path)
    assert_one_line(missing, 2, "absent.csv")


@pytest.mark.parametrize(
    "args", [("backfill", "s3://scans/incoming/"), ("parcels", "import", "s3://exports/parcels.csv")]
)
def test_s3_without_credentials_says_which_variables_to_set(tmp_path: Path, args: tuple[str, ...]) -> None:
    # a closed local port as the endpoint: nothing can leave the machine even if a request were made
    env = {"AWS_REGION": "ap-southeast-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}"}
    proc = run_intake(*args, data_dir=tmp_path, env=env)
    assert_one_line(proc, 3, "no usable AWS credentials", "AWS_ACCESS_KEY_ID", "IAM role")


def test_queue_url_without_region_says_to_set_aws_region(tmp_path: Path) -> None:
    env = {
        "INTAKE_QUEUE_URL": f"http://127.0.0.1:{_free_port()}/000000000000/intake",  # ElasticMQ-style: no region in it
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    proc = run_intake("worker", "--drain", data_dir=tmp_path, env=env)
    assert_one_line(proc, 3, "no AWS region", "AWS_REGION")


@pytest.mark.parametrize("entry", [INTAKE, [sys.executable, "-m", "worker.intake"]], ids=["intake", "worker.intake"])
def test_an_invalid_setting_is_bad_usage_naming_the_variable(tmp_path: Path, entry: list[str]) -> None:
    env = {"INTAKE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "INTAKE_PDF_DPI": "abc"}
    proc = subprocess.run([*entry, "status"], capture_output=True, text=True, env=env, timeout=120)
    assert_one_line(proc, 2, "INTAKE_PDF_DPI=abc", "valid integer")
    if entry != INTAKE:
        return  # the rows below run `intake` itself: once is enough
    out_of_range = run_intake("status", data_dir=tmp_path, env={"INTAKE_AUTO_ACCEPT_THRESHOLD": "95"})
    assert_one_line(out_of_range, 2, "INTAKE_AUTO_ACCEPT_THRESHOLD=95", "less than or equal to 1")
    port = run_intake("status", data_dir=tmp_path, env={"INTAKE_METRICS_PORT": "0"})
    assert_one_line(port, 2, "INTAKE_METRICS_PORT=0")


def test_a_relay_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = run_intake("relay", "--host", "127.0.0.1", "--port", str(port), data_dir=tmp_path)
    assert_one_line(proc, 3, f"port {port}", "already in use", "--port")


def test_samples_refuses_a_non_empty_folder_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "samples"
    (out / "submissions" / "S0099").mkdir(parents=True)
    (out / "submissions" / "S0099" / "old.jpg").write_bytes(b"from an earlier, larger set")
    (out / "notes.txt").write_text("mine")
    refused = run_intake("samples", str(out), "-n", "1", data_dir=tmp_path)
    assert_one_line(refused, 2, "is not empty", "--force")
    assert (out / "submissions" / "S0099" / "old.jpg").exists()
    forced = run_intake("samples", str(out), "-n", "1", "--decoy-parcels", "20", "--force", data_dir=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert sorted(p.name for p in (out / "submissions").iterdir()) == ["S0001"]  # no stale submission left
    assert (out / "parcels.csv").is_file() and (out / "truth.jsonl").is_file()
    assert (out / "notes.txt").read_text() == "mine"  # only the sample set is replaced


def test_eta_fills_in_after_the_first_item_at_the_average_rate() -> None:
    from rich.progress import Progress, TimeRemainingColumn

    clock = [100.0]
    bar = Progress(TimeRemainingColumn(), EtaColumn(), get_time=lambda: clock[0], disable=True)
    task_id = bar.add_task("processing", total=10)
    clock[0] = 140.0  # the first submission's files all arrive 40 s after the start, at once
    bar.update(task_id, advance=2)
    task = bar.tasks[0]
    assert str(TimeRemainingColumn().render(task)) == "-:--:--"  # rich's own column has no rate yet
    assert str(EtaColumn().render(task)) == "ETA 0:02:40"  # 8 left at 20 s each
    assert eta_seconds(10, 0, 40.0) is None and eta_seconds(None, 3, 40.0) is None
    assert eta_seconds(10, 10, 40.0) == 0.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
