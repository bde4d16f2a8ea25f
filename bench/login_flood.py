"""`python -m bench login-flood`: N parallel failed logins against the real review app (`intake review serve`,
argon2id at its production cost), while /healthz is asked every 20 ms; prints the /healthz latency (on the
quiet server first, then during the flood), the server's memory (resident before, peak) and how the logins
were answered.

By default every login comes from its own client address (X-Forwarded-For, which uvicorn trusts from
127.0.0.1): a botnet, the worst case, where the per-address throttle does not help and only the bounded
argon2 pool stands between the flood and the server. `--one-address` is the single attacker, whom the
address throttle stops after 20 tries. The attackers run in a process of their own, so their threads do not
slow the prober's clock. Targets (issue 18): /healthz under 200 ms, memory under 300 MB."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "bench password 123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) in MB, as the kernel counts them."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, INTAKE_DATA_DIR=str(data_dir), INTAKE_SESSION_SECRET="b" * 48, INTAKE_LOG_LEVEL="WARNING")
    for name, role in (("rev", "reviewer"), ("boss", "admin")):
        subprocess.run(
            [sys.executable, "-m", "worker", "users", "add", name, "--role", role],
            input=f"{PASSWORD}\n".encode(),
            env=env,
            check=True,
            capture_output=True,
        )
    log = (data_dir / "server.log").open("wb")
    cmd = [sys.executable, "-m", "worker", "review", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the review app exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the review app did not start within 60 s")


def _probe_once(health: Any, out: list[float]) -> None:
    t0 = time.perf_counter()
    health.get("/healthz").raise_for_status()
    out.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.02)


def _quiet(url: str, seconds: float) -> list[float]:
    """/healthz latencies (ms) before the flood: what the machine itself costs right now."""
    out: list[float] = []
    end = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=30) as health:
        while time.monotonic() < end:
            _probe_once(health, out)
    return out


def _attackers(url: str, n: int, one_address: bool, ready: Any, go: Any, results: Any) -> None:
    """N threads, each one failed login, all released at once."""
    with httpx.Client(base_url=url) as c:
        token = c.get("/api/session").json()["csrf_token"]
        cookies = dict(c.cookies)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(n)

    def login(i: int) -> None:
        headers = {"X-CSRF-Token": token}
        if not one_address:
            headers["X-Forwarded-For"] = f"10.{i // 250}.{i % 250}.{(i * 7) % 250 + 1}"
        with httpx.Client(base_url=url, cookies=cookies, headers=headers, timeout=120) as c:
            start.wait()
            r = c.post("/api/session", json={"name": "boss" if i % 2 else f"nobody{i}", "password": f"guess {i}"})
        try:
            key = f"{r.status_code} {r.json().get('error', '')}".strip()
        except ValueError:
            key = f"{r.status_code} {r.text[:40]}"
        with lock:
            outcomes[key] += 1

    with ThreadPoolExecutor(n) as pool:
        ready.set()
        go.wait()
        list(pool.map(login, range(n)))
    results.put(dict(outcomes))


def _flood(url: str, n: int, one_address: bool) -> tuple[list[float], Counter[str], float]:
    ctx = multiprocessing.get_context("spawn")
    ready, go, results = ctx.Event(), ctx.Event(), ctx.Queue()
    attackers = ctx.Process(target=_attackers, args=(url, n, one_address, ready, go, results))
    attackers.start()
    ready.wait(60)
    latencies: list[float] = []
    go.set()
    began = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as health:
        while attackers.is_alive() and results.empty():
            _probe_once(health, latencies)
    elapsed = time.perf_counter() - began
    outcomes: Counter[str] = Counter(results.get(timeout=300))
    attackers.join(timeout=30)
    return latencies, outcomes, elapsed


def _summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(ordered):.1f} / {p95:.1f} / {ordered[-1]:.1f} ms ({len(ordered)} samples)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench login-flood", description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=200, help="parallel failed logins (default 200)")
    parser.add_argument("--one-address", action="store_true", help="all from one client address")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="login-flood-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start_server(data_dir, port)
        try:
            _wait_ready(url, proc)
            quiet = _quiet(url, 5.0)
            idle_rss, _ = _memory_mb(proc.pid)
            latencies, outcomes, elapsed = _flood(url, args.logins, args.one_address)
            _, peak_rss = _memory_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    worst = max(latencies)
    rows: list[tuple[str, Any]] = [
        ("parallel failed logins", f"{args.logins} ({'one address' if args.one_address else 'one address each'})"),
        ("flood lasted", f"{elapsed:.1f} s"),
        ("answers", ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))),
        ("/healthz quiet: median / p95 / max", _summary(quiet)),
        ("/healthz during: median / p95 / max", _summary(latencies)),
        ("server resident before / peak", f"{idle_rss:.0f} / {peak_rss:.0f} MB"),
        ("load average (1 min) after", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"),
        ("target /healthz < 200 ms", "met" if worst < 200 else f"NOT met (max {worst:.0f} ms)"),
        ("target memory < 300 MB", "met" if peak_rss < 300 else "NOT met"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
