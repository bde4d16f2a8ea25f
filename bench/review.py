"""`python -m bench review`: how fast the review app answers, with a realistic queue behind it.

Seeds N waiting submissions (2 candidates each), then measures in-process (ASGI, no network) the
latency of what a reviewer does all day: open the queue, take the next item, render it, decide (which
also opens the next item), undo; plus the admin's export, and R reviewers taking items concurrently
(all must get different items). Prints one table of numbers."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from models.document import Document, FieldValue
from models.proposal import Evidence, Proposal, ProposedUpdate
from models.settings import Settings
from worker.review import auth
from worker.review.app import create_app
from worker.review.auth import create_user
from worker.review.seed import seed_submission
from worker.store.db import session_scope
from worker.store.results import utcnow

PASSWORD = "bench password 123"


def _seed(engine: Any, n: int, reviewers: int) -> None:
    now = utcnow()
    with session_scope(engine) as s:
        for i in range(reviewers):
            create_user(s, f"rev{i}", "reviewer", PASSWORD)
        create_user(s, "boss", "admin", PASSWORD)
    batch = 500
    for start in range(0, n, batch):
        with session_scope(engine) as s:
            for i in range(start, min(n, start + batch)):
                doc = Document(
                    source=f"B{i:06d}/cccd.jpg",
                    sha256=f"{i:064d}",
                    doc_type="cccd_front",
                    fields={
                        "id_number": FieldValue(value=f"046090{i:06d}", confidence=0.97, box=[290, 230, 270, 28]),
                        "full_name": FieldValue(value="NGUYỄN VĂN AN", confidence=0.9, box=[290, 310, 240, 34]),
                    },
                )
                candidates = [
                    Proposal(
                        parcel_id=f"TD{i:07d}{k}",
                        confidence=0.8 - k * 0.3,
                        band="review" if k == 0 else "unlikely",
                        owner_id=f"TD{i:07d}{k}-1",
                        owner_name="Nguyen Van An",
                        model_version="bench",
                        evidence=[
                            Evidence(
                                field="owner_name",
                                scanned="NGUYỄN VĂN AN",
                                record="Nguyen Van An",
                                agreement="exact_no_diacritics",
                                weight=4.0,
                            ),
                            Evidence(
                                field="owner_id_number",
                                scanned=f"046090{i:06d}",
                                record="191234567",
                                agreement="missing",
                                weight=0.0,
                            ),
                        ],
                        proposed_updates=[
                            ProposedUpdate(
                                field="owner_id_number",
                                record_value="191234567",
                                scanned_value=f"046090{i:06d}",
                                owner_index=1,
                            )
                        ],
                    )
                    for k in range(2)
                ]
                seed_submission(
                    s,
                    f"B{i:06d}",
                    [doc],
                    candidates,
                    commune_code=("19789", "19774", "19753")[i % 3],
                    created_at=now - timedelta(minutes=n - i),
                )


def _client(app: Any, name: str) -> Any:
    c = TestClient(app, follow_redirects=False)
    token = c.get("/api/session").json()["csrf_token"]
    r = c.post("/api/session", json={"name": name, "password": PASSWORD}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def _time(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _row(name: str, samples: list[float]) -> tuple[str, int, float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return name, len(samples), statistics.median(ordered), p95, ordered[-1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench review", description=__doc__)
    parser.add_argument("--submissions", type=int, default=2000, help="waiting submissions in the queue")
    parser.add_argument("--decisions", type=int, default=100, help="take/render/decide cycles to time")
    parser.add_argument("--reviewers", type=int, default=4, help="reviewers taking items concurrently")
    parser.add_argument(
        "--url",
        default="sqlite",
        help="'sqlite' (temporary file), 'postgres' (throwaway database on 127.0.0.1:5432) or an SQLAlchemy URL",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    # the benchmark measures the app, not password hashing (argon2 stays at its defaults in production)
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-review-"))
    url, drop = args.url, None
    if url == "sqlite":
        url = f"sqlite:///{tmp / 'review.db'}"
    elif url == "postgres":
        name = f"bench_review_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url, drop = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name
    try:
        settings = Settings(data_dir=tmp, database_url=url, session_secret="b" * 48, audit_sample_rate=0.0)
        app = create_app(settings)
        t0 = time.perf_counter()
        _seed(app.state.engine, args.submissions, args.reviewers)
        seed_s = time.perf_counter() - t0
        rows = _one_reviewer(app, args.decisions)
        per_reviewer = 10
        taken, wall = _concurrent_takes(app, args.reviewers, per_reviewer)
        distinct = len(set(taken)) == len(taken) and None not in taken

        print(
            f"review app on {app.state.engine.dialect.name}: {args.submissions} waiting submissions (seeded in {seed_s:.1f} s)"
        )
        print(f"{'operation':<40} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
        for name, n, p50, p95, mx in rows:
            print(f"{name:<40} {n:>5} {p50:>9.1f} {p95:>9.1f} {mx:>9.1f}")
        print(
            f"{args.reviewers} reviewers x {per_reviewer} take+decide concurrently: {len(taken) / wall:.1f} decisions/s, "
            f"all items distinct: {'yes' if distinct else 'NO'}"
        )
        app.state.engine.dispose()
        return 0 if distinct else 1
    finally:
        if drop:
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')


def _one_reviewer(app: Any, decisions: int) -> list[tuple[str, int, float, float, float]]:
    """One reviewer's operations timed: queue pages, `decisions` take/render/decide cycles, undo, take-next and
    a supervisor's export."""
    rev = _client(app, "rev0")
    token = rev.headers["X-CSRF-Token"]
    rows = [
        _row("GET /queue (page, 100 rows)", _time(lambda: rev.get("/queue"), 20)),
        _row("GET /api/queue", _time(lambda: rev.get("/api/queue"), 20)),
    ]
    take, render, decide = [], [], []
    location = rev.post("/queue/next", data={"csrf_token": token}).headers["location"]
    for _ in range(decisions):
        t0 = time.perf_counter()
        page = rev.get(location)
        render.append((time.perf_counter() - t0) * 1000)
        assert page.status_code == 200
        sid = location.rsplit("/", 1)[-1]
        t0 = time.perf_counter()
        r = rev.post(f"/items/{sid}/decide", data={"csrf_token": token, "action": "accept", "rank": "1"})
        decide.append((time.perf_counter() - t0) * 1000)
        location = r.headers["location"]
    rows.append(_row("GET /items/{id} (item page)", render))
    rows.append(_row("POST decide (+ take next)", decide))
    undo = []
    for _ in range(10):
        sid = location.rsplit("/", 1)[-1]
        # "none of these" closes the item (a reject judges one candidate and leaves the item open)
        location = rev.post(f"/items/{sid}/decide", data={"csrf_token": token, "action": "none"}).headers[
            "location"
        ]
        t0 = time.perf_counter()
        assert rev.post("/api/undo").status_code == 200
        undo.append((time.perf_counter() - t0) * 1000)
        rev.post(f"/items/{sid}/decide", data={"csrf_token": token, "action": "none"})
    rows.append(_row("POST /api/undo", undo))
    for _ in range(5):
        take.extend(_time(lambda: rev.post("/api/queue/next", json={}), 1))
    rows.append(_row("POST /api/queue/next", take))
    boss = _client(app, "boss")
    rows.append(
        _row(
            f"POST /api/export csv ({decisions} accepts)",
            _time(lambda: boss.post("/api/export", params={"format": "csv"}), 5),
        )
    )
    return rows


def _concurrent_takes(app: Any, reviewers: int, per_reviewer: int) -> tuple[list[str], float]:
    """`reviewers` clients taking and accepting `per_reviewer` items each at once: the items taken, the wall time."""
    clients = [_client(app, f"rev{i}") for i in range(reviewers)]
    got: list[list[str]] = [[] for _ in clients]
    barrier = threading.Barrier(len(clients))

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(per_reviewer):
            sid = clients[i].post("/api/queue/next", json={}).json()["submission_id"]
            got[i].append(sid)
            clients[i].post(f"/api/items/{sid}/decisions", json={"action": "accept"})

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return [sid for g in got for sid in g], wall


if __name__ == "__main__":
    raise SystemExit(main())
