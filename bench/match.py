"""`python -m bench match`: matching accuracy, calibration and latency on a generated registry, side by side
with a plain rapidfuzz best-score baseline and Splink.

Data: a registry of --parcels parcels (fixtures.registry.write_registry: dirty names, legacy encodings, old
CMND numbers, decoy neighbours, namesakes, owners with several parcels) and --submissions submissions, about
10% of them for parcels left out of the registry. The read stages are simulated from the ground truth
(worker.match.simulate; --noise scales their error rates) because OCR of thousands of scans would take hours;
`--real N` also runs the real pipeline on N rendered submissions as a check.

    python -m bench match                       # 200k parcels, 2000 submissions, SQLite
    python -m bench match --postgres            # the same on PostgreSQL too
    python -m bench match --parcels 1200000     # Huế scale
    python -m bench match --train               # refit worker/match/model.json on a separate training set
    python -m bench match --import-only --parcels 1200000   # registry import speed only
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from rapidfuzz import fuzz, process

from fixtures.gcn import owner_truth
from fixtures.mrz import person_mrz
from fixtures.registry import allocate_parcel_ids, write_registry
from fixtures.samples import generate, parcel_key, plan_submission
from models.settings import Settings
from worker.keys import id_digits, serial_key
from worker.match import Matcher
from worker.match.features import scan_submission
from worker.match.model import MODEL_PATH, expected_calibration_error
from worker.match.simulate import Simulator
from worker.match.train import load_truth, train
from worker.pipeline import collect_submissions, process_submission, read_inputs
from worker.store.db import make_engine
from worker.store.migrate import upgrade
from worker.store.registry import import_csv
from worker.vntext import name_key

# --- sample sets without images ---------------------------------------------------------------------------


def _card_docs(person: Any, with_back: bool) -> list[dict[str, Any]]:
    gen = person.card_generation
    front_type = "cmnd_front" if gen.startswith("cmnd") else "cccd_front"
    fields: dict[str, Any] = {
        "id_number": person.card_number,
        "full_name": person.full_name,
        "date_of_birth": person.date_of_birth.isoformat(),
        "place_of_residence": person.place_of_residence,
    }
    if gen == "cccd_chip_2021" and person.old_id_number:
        fields["old_id_number"] = person.old_id_number  # from the QR
    docs = [{"file": "card_front.jpg", "page": 1, "part": None, "doc_type": front_type, "fields": fields, "owners": []}]
    if with_back and gen in ("cccd_chip_2021", "cancuoc_2024"):
        back: dict[str, Any] = {"id_number": person.id_number, "date_of_birth": person.date_of_birth.isoformat()}
        if person.id_number and len(person.id_number) == 12:
            # the zone the number and birth date were read from; its third line names the holder (no diacritics)
            back["mrz"] = person_mrz(person)
        docs.append(
            {"file": "card_back.jpg", "page": 1, "part": None, "doc_type": "cccd_back", "fields": back, "owners": []}
        )
    return docs


def _certificate_docs(parcel: Any) -> list[dict[str, Any]]:
    owners = [owner_truth(o, parcel) for o in parcel.owners]
    parcel_fields = {
        "parcel_number": parcel.parcel_number,
        "map_sheet_number": parcel.map_sheet_number,
        "parcel_address": parcel.address,
        "area_m2": parcel.area_m2,
        "land_use_code": parcel.land_use_code,
    }
    if parcel.certificate_form == "gcn_2024_qr":
        page1 = {"certificate_serial": parcel.certificate_serial, **parcel_fields}
        return [
            {"file": "gcn_p1.jpg", "page": 1, "part": None, "doc_type": "gcn_page1", "fields": page1, "owners": owners},
            {
                "file": "gcn_p2.jpg",
                "page": 1,
                "part": None,
                "doc_type": "gcn_other",
                "fields": {"registry_number": parcel.registry_number},
                "owners": [],
            },
        ]
    page2 = {**parcel_fields, "registry_number": parcel.registry_number}
    return [
        {
            "file": "gcn_p1.jpg",
            "page": 1,
            "part": None,
            "doc_type": "gcn_page1",
            "fields": {"certificate_serial": parcel.certificate_serial},
            "owners": owners,
        },
        {"file": "gcn_p2.jpg", "page": 1, "part": None, "doc_type": "gcn_page2", "fields": page2, "owners": []},
    ]


def make_samples(
    outdir: Path,
    submissions: int,
    seed: int,
    *,
    parcels: int,
    absent_fraction: float = 0.1,
    superseded: float = 0.02,
    progress: Any = None,
) -> dict[str, Any]:
    """A sample set without images: parcels.csv (with optional status/superseded_by/derived_from columns when
    some parcels were split after their certificate was issued) and truth.jsonl in the fixtures format."""
    outdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    used: set[tuple[str, int, int]] = set()
    plans = [plan_submission(rng, f"S{i + 1:06d}", absent_fraction, used) for i in range(submissions)]
    explicit: list[tuple[str, str, Any]] = []
    for pl in plans:
        explicit.append(("submission", pl.submission_id, pl.parcel))
        explicit += [(role, pl.submission_id, d) for role, d in pl.decoys]
    total = max(parcels, len(explicit) + 100)
    ids = allocate_parcel_ids(rng, total, len(explicit))
    explicit = [(role, sid, replace(p, parcel_id=pid)) for (role, sid, p), pid in zip(explicit, ids, strict=True)]
    by_sub = {sid: p for role, sid, p in explicit if role == "submission"}
    for pl in plans:
        pl.parcel = by_sub[pl.submission_id]
    absent = {pl.parcel.parcel_id for pl in plans if not pl.in_registry}
    force = _forced_dirt(plans, rng)
    in_reg = [p for _role, _sid, p in explicit if p.parcel_id not in absent]
    csv_path = outdir / "parcels.csv"
    reg = write_registry(
        csv_path,
        total,
        seed,
        parcels=in_reg,
        force_dirt=force,
        reserve_keys=[parcel_key(pl.parcel) for pl in plans if not pl.in_registry],
    )
    rows_by_pid = reg["explicit"]
    # parcels split after their certificate was issued: the old record is kept as "split" with successors
    split = {
        pl.parcel.parcel_id for pl in plans if pl.in_registry and pl.kind != "id_only" and rng.random() < superseded
    }
    if split:
        _add_splits(csv_path, split, rng, total)
    lines = []
    for k, pl in enumerate(plans, start=1):
        lines.append(_truth_line(pl, rows_by_pid, split))
        if progress and k % 500 == 0:
            progress(k, submissions)
    (outdir / "truth.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "rows": reg["rows"],
        "parcels": total,
        "submissions": submissions,
        "absent": len(absent),
        "split": len(split),
    }


def _forced_dirt(plans: list[Any], rng: random.Random) -> dict[str, Any]:
    """Dirt each submission's parcel must carry in the registry (one draw per submission)."""
    force: dict[str, Any] = {}
    for pl in plans:
        r = rng.random()
        force[pl.parcel.parcel_id] = (
            ["old_cmnd"]
            if r < 0.25
            else ["missing_id"]
            if r < 0.32
            else ["tcvn3"]
            if r < 0.38
            else ["typo"]
            if r < 0.44
            else ["birth_year_off"]
            if r < 0.5
            else []
        )
    return force


def _truth_line(pl: Any, rows_by_pid: dict[str, list[dict[str, Any]]], split: set[str]) -> str:
    """A submission's truth.jsonl line, with the documents a reader would have produced from it."""
    docs: list[dict[str, Any]] = []
    if pl.kind != "cert_only":
        docs += _card_docs(pl.parcel.owners[pl.card_owner or 0], pl.with_back)
    if pl.kind != "id_only":
        docs += _certificate_docs(pl.parcel)
    owner_index = None
    if pl.in_registry:
        pi = pl.card_owner if pl.card_owner is not None else 0
        owner_index = next(r["owner_index"] for r in rows_by_pid[pl.parcel.parcel_id] if r["person_index"] == pi)
    return json.dumps(
        {
            "submission_id": pl.submission_id,
            "kind": pl.kind,
            "parcel_id": pl.parcel.parcel_id if pl.in_registry else None,
            "owner_index": owner_index,
            "in_registry": pl.in_registry,
            "superseded": pl.parcel.parcel_id in split,
            "decoys": [role for role, _ in pl.decoys],
            "expected_updates": [],
            "documents": docs,
        },
        ensure_ascii=False,
    )


def _add_splits(csv_path: Path, split: set[str], rng: random.Random, total: int) -> None:
    """Rewrite the CSV with the optional status columns: each split parcel gets two successors on the same
    sheet (new parcel numbers, no certificate yet, the same owners)."""
    tmp = csv_path.with_suffix(".tmp")
    next_id = total + 1
    children: list[list[Any]] = []
    with csv_path.open(newline="", encoding="utf-8") as src, tmp.open("w", newline="", encoding="utf-8") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst)
        header = next(reader)
        writer.writerow([*header, "status", "superseded_by", "derived_from"])
        successors: dict[str, list[str]] = {}
        for row in reader:
            pid = row[0]
            if pid in split:
                if pid not in successors:
                    successors[pid] = [f"TD{next_id:07d}", f"TD{next_id + 1:07d}"]
                    next_id += 2
                    numbers = [9000 + rng.randrange(900), 9900 + rng.randrange(99)]
                    area = float(row[5] or 100)
                    for new_id, number, share in zip(successors[pid], numbers, (0.6, 0.4), strict=True):
                        children.append(
                            [
                                new_id,
                                row[1],
                                row[2],
                                number,
                                row[4],
                                round(area * share, 1),
                                row[6],
                                "",
                                "",
                                row[9],
                                row[10],
                                row[11],
                                row[12],
                                "active",
                                "",
                                pid,
                            ]
                        )
                writer.writerow([*row, "split", ";".join(successors[pid]), ""])
            else:
                writer.writerow([*row, "", "", ""])
        writer.writerows(children)
    tmp.replace(csv_path)


# --- evaluation -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    truth_parcel: str | None
    top: str | None
    confidence: float
    band: str
    recalled: bool | None  # true parcel among the blocked candidates (None when absent)
    seconds: float
    superseded: bool = False
    kind: str = ""
    owner_ok: bool | None = None
    tied: bool = False  # the best two candidates scored exactly the same: the scans cannot tell them apart
    cpu_seconds: float | None = None  # this process's CPU time (PostgreSQL's server side not included)


def _metrics(outcomes: list[Outcome]) -> dict[str, float]:
    present = [o for o in outcomes if o.truth_parcel]
    absent = [o for o in outcomes if not o.truth_parcel]
    auto = [o for o in outcomes if o.band == "auto_accept"]
    recall = [o.recalled for o in present if o.recalled is not None]
    times = sorted(o.seconds for o in outcomes)
    cpu = sorted(o.cpu_seconds for o in outcomes if o.cpu_seconds is not None)
    conf = [o.confidence for o in outcomes]
    ok = [o.top is not None and o.top == o.truth_parcel for o in outcomes]
    owners = [o.owner_ok for o in present if o.owner_ok is not None and o.top == o.truth_parcel]
    return {
        "submissions": len(outcomes),
        "blocking_recall": sum(recall) / len(recall) if recall else float("nan"),
        "top1_accuracy": sum(o.top == o.truth_parcel for o in present) / len(present) if present else float("nan"),
        "top1_untied": (
            sum(o.top == o.truth_parcel for o in present if not o.tied) / max(1, sum(not o.tied for o in present))
            if present
            else float("nan")
        ),
        "tied": float(sum(o.tied for o in present)),
        "owner_accuracy": sum(owners) / len(owners) if owners else float("nan"),
        "auto_accept_rate": len(auto) / len(outcomes) if outcomes else float("nan"),
        "auto_accept_precision": sum(o.top == o.truth_parcel for o in auto) / len(auto) if auto else float("nan"),
        "ece_top1": expected_calibration_error(conf, ok),
        "absent_below_half": sum(o.confidence < 0.5 for o in absent) / len(absent) if absent else float("nan"),
        "p50_ms": 1000 * times[len(times) // 2] if times else float("nan"),
        "p95_ms": 1000 * times[min(len(times) - 1, int(0.95 * len(times)))] if times else float("nan"),
        "p95_cpu_ms": 1000 * cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))] if cpu else float("nan"),
    }


def run_matcher(engine: Any, subs: list[tuple[dict[str, Any], list[Any]]], settings: Settings) -> list[Outcome]:
    matcher = Matcher(engine, settings)
    outcomes = []
    with engine.connect() as conn:
        for _truth, docs in subs[:20]:  # warm caches and connections
            matcher.propose(docs)
        for truth, docs in subs:
            started, cpu = time.perf_counter(), time.process_time()
            proposals = matcher.propose(docs)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            found, _ = matcher.candidates(scan_submission(docs), conn)
            top = proposals[0] if proposals else None
            expected_owner = f"{truth['parcel_id']}:{truth['owner_index']}" if truth.get("parcel_id") else None
            outcomes.append(
                Outcome(
                    truth.get("parcel_id"),
                    top.parcel_id if top else None,
                    top.confidence if top else 0.0,
                    top.band if top else "none",
                    truth["parcel_id"] in found if truth.get("parcel_id") else None,
                    seconds,
                    bool(truth.get("superseded")),
                    truth.get("kind", ""),
                    (top.owner_id == expected_owner) if top and expected_owner else None,
                    len(proposals) > 1 and abs(proposals[0].confidence - proposals[1].confidence) < 1e-9,
                    cpu,
                )
            )
    return outcomes


# --- baselines ------------------------------------------------------------------------------------------


def _registry_strings(csv_path: Path) -> tuple[list[str], list[str]]:
    texts: dict[str, list[str]] = {}
    with csv_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            parts = texts.setdefault(
                row["parcel_id"],
                [
                    row["certificate_serial"],
                    f"{row['map_sheet_number']}/{row['parcel_number']}",
                    name_key(row["address"]),
                ],
            )
            parts.append(name_key(row["owner_name"]))
            parts.append(row["owner_id_number"] or "")
    ids = list(texts)
    return ids, [" ".join(p for p in texts[i] if p) for i in ids]


def _submission_string(docs: list[Any]) -> str:
    sub = scan_submission(docs)
    parts = [
        sub.certificate_serial or "",
        f"{sub.map_sheet_number}/{sub.parcel_number}" if sub.map_sheet_number else "",
        name_key(sub.parcel_address or ""),
    ]
    for p in sub.persons:
        parts += [p.name_key, " ".join(p.id_numbers)]
    return " ".join(x for x in parts if x)


def run_rapidfuzz(csv_path: Path, subs: list[tuple[dict[str, Any], list[Any]]], threshold: float) -> list[Outcome]:
    """The plain baseline: one text per registry parcel, the best token_set_ratio wins, score/100 is the
    'confidence'. No blocking (rapidfuzz scans every parcel in C)."""
    ids, texts = _registry_strings(csv_path)
    outcomes = []
    for truth, docs in subs:
        started, cpu = time.perf_counter(), time.process_time()
        query = _submission_string(docs)
        best = process.extractOne(query, texts, scorer=fuzz.token_set_ratio) if query else None
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        top = ids[best[2]] if best else None
        conf = best[1] / 100 if best else 0.0
        band = "auto_accept" if conf >= threshold else "review" if conf >= 0.5 else "unlikely"
        outcomes.append(
            Outcome(truth.get("parcel_id"), top, conf, band, None, seconds, kind=truth.get("kind", ""), cpu_seconds=cpu)
        )
    return outcomes


def _splink_registry_rows(csv_path: Path) -> list[dict[str, Any]]:
    """The registry's owner rows as Splink records (the keys our matcher compares, from worker/)."""
    reg_rows = []
    with csv_path.open(newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            reg_rows.append(
                {
                    "unique_id": f"r{i}",
                    "parcel_id": row["parcel_id"],
                    "name": name_key(row["owner_name"]) or None,
                    "birth_year": int(row["owner_birth_year"]) if row["owner_birth_year"] else None,
                    "id_number": id_digits(row["owner_id_number"]),
                    "serial": serial_key(row["certificate_serial"]),
                    "parcel_ref": f"{row['map_sheet_number']}/{row['parcel_number']}",
                    "street": name_key(row["address"]).split(",")[0] or None,
                }
            )
    return reg_rows


def _splink_scan_rows(subs: list[tuple[dict[str, Any], list[Any]]]) -> list[dict[str, Any]]:
    """Each submission's scanned primary owner and parcel as one Splink record."""
    sub_rows = []
    for truth, docs in subs:
        s = scan_submission(docs)
        p = s.primary
        sub_rows.append(
            {
                "unique_id": truth["submission_id"],
                "parcel_id": None,
                "name": p.name_key if p else None,
                "birth_year": p.birth_year if p else None,
                "id_number": p.id_number if p else None,
                "serial": s.serial_key,
                "parcel_ref": f"{s.map_sheet_number}/{s.parcel_number}" if s.map_sheet_number is not None else None,
                "street": name_key(s.parcel_address or "").split(",")[0] or None,
            }
        )
    return sub_rows


def run_splink(
    csv_path: Path, subs: list[tuple[dict[str, Any], list[Any]]], threshold: float, seed: int
) -> tuple[list[Outcome], str]:
    """Splink 4 (DuckDB) linking the submissions to the registry's owner rows: comparisons on name (Jaro-
    Winkler levels), birth year, personal number, serial, sheet/parcel and address; u by random sampling,
    m by EM on two blocking rules, best match per submission."""
    try:  # the optional `bench` extra
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        return [], f"splink not installed ({exc}); pip install 'land-intake[bench]'"
    reg_rows = _splink_registry_rows(csv_path)
    sub_rows = _splink_scan_rows(subs)
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("name", [0.95, 0.88]),
            cl.ExactMatch("birth_year"),
            cl.ExactMatch("id_number"),
            cl.ExactMatch("serial"),
            cl.ExactMatch("parcel_ref"),
            cl.JaroWinklerAtThresholds("street", [0.9]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("serial"),
            block_on("parcel_ref"),
            block_on("id_number"),
            block_on("name", "birth_year"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    started = time.perf_counter()
    db_api = DuckDBAPI()
    frames: list[Any] = [sub_rows, reg_rows]
    if hasattr(db_api, "register"):  # Splink 5: tables are registered with the backend first
        tables: Any = [
            db_api.register(f, dataset_display_name=n) for f, n in zip(frames, ("scans", "registry"), strict=True)
        ]
        linker = Linker(tables, settings, log_level=logging.WARNING)
    else:  # Splink 4
        linker = Linker(frames, settings, db_api=db_api, log_level=logging.WARNING)  # type: ignore[call-arg,unused-ignore]
    # the share of matches among all scan x registry pairs: one per submission
    linker.training.estimate_probability_two_random_records_match(
        [block_on("serial"), block_on("id_number")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("serial"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name", "birth_year"))
    predictions = linker.inference.predict(threshold_match_probability=0.01).as_record_list()
    elapsed = time.perf_counter() - started
    best: dict[str, tuple[float, Any]] = {}
    for rec in predictions:
        left, right = rec["unique_id_l"], rec["unique_id_r"]
        sid, rid = (left, right) if str(right).startswith("r") else (right, left)
        prob = float(rec["match_probability"])
        pid = reg_rows[int(str(rid)[1:])]["parcel_id"]
        if sid not in best or prob > best[sid][0]:
            best[sid] = (prob, pid)
    per = elapsed / max(len(subs), 1)
    outcomes = []
    for truth, _docs in subs:
        prob, pid = best.get(truth["submission_id"], (0.0, None))
        band = "auto_accept" if prob >= threshold else "review" if prob >= 0.5 else "unlikely"
        outcomes.append(Outcome(truth.get("parcel_id"), pid, prob, band, None, per, kind=truth.get("kind", "")))
    return outcomes, f"batch {elapsed:.1f} s for {len(subs)} submissions (latency = batch time / submission)"


# --- running --------------------------------------------------------------------------------------------


@dataclass
class ImportCost:
    """Wall seconds, and CPU seconds of this process and of the normalising worker processes (the numbers to
    trust on a shared machine: on an idle 2-core machine the import takes about max(main, workers) plus the
    index builds, which run after the workers are done and are part of `main`)."""

    wall: float
    main_cpu: float
    workers_cpu: float

    def __str__(self) -> str:
        return f"wall {self.wall:6.1f} s, CPU: this process {self.main_cpu:5.1f} s + workers {self.workers_cpu:5.1f} s"


def _import(csv_path: Path, url: str) -> tuple[Any, ImportCost, Any]:
    upgrade(url)
    engine = make_engine(url)
    started, cpu = time.perf_counter(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = import_csv(csv_path, engine)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cost = ImportCost(
        time.perf_counter() - started,
        time.process_time() - cpu,
        after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime,
    )
    return engine, cost, report


def _pg_database(name: str) -> str:
    host = os.environ.get("INTAKE_TEST_PG_HOST", "127.0.0.1")
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@{host}:5432/{name}"


def _print_table(rows: list[tuple[str, dict[str, float]]]) -> None:
    keys = [
        ("blocking_recall", "blocking recall", "{:.4f}"),
        ("top1_accuracy", "top-1 accuracy (parcel present)", "{:.4f}"),
        ("top1_untied", "top-1 accuracy, exact ties left out", "{:.4f}"),
        ("tied", "present, best two tied (undecidable)", "{:.0f}"),
        ("owner_accuracy", "owner correct (top-1 right)", "{:.4f}"),
        ("auto_accept_rate", "auto-accepted share", "{:.4f}"),
        ("auto_accept_precision", "auto_accept precision", "{:.4f}"),
        ("ece_top1", "ECE (top-1 confidence)", "{:.4f}"),
        ("absent_below_half", "absent parcel: best < 0.5", "{:.4f}"),
        ("p50_ms", "latency p50 ms", "{:.1f}"),
        ("p95_ms", "latency p95 ms", "{:.1f}"),
        ("p95_cpu_ms", "latency p95 ms, client CPU", "{:.1f}"),
    ]
    width = max(len(label) for _, label, _ in keys) + 2
    print("".ljust(width) + "".join(name.rjust(18) for name, _ in rows))
    for key, label, fmt in keys:
        cells = []
        for _, m in rows:
            v = m.get(key, float("nan"))
            cells.append(("-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)).rjust(18))
        print(label.ljust(width) + "".join(cells))


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench match", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--parcels", type=int, default=200_000, help="registry size (parcels)")
    ap.add_argument("--submissions", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--noise", type=float, default=1.0, help="scale of the simulated read-stage error rates")
    ap.add_argument(
        "--absent", type=float, default=0.1, help="share of submissions whose parcel is not in the registry"
    )
    ap.add_argument("--postgres", action="store_true", help="also import and match on PostgreSQL at 127.0.0.1")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--baselines", default="rapidfuzz,splink", help="comma list: rapidfuzz, splink, or none")
    ap.add_argument("--baseline-submissions", type=int, default=1000, help="submissions given to the baselines")
    ap.add_argument("--workdir", type=Path, default=None, help="keep generated data here (default: a temp dir)")
    ap.add_argument("--train", action="store_true", help="fit and write worker/match/model.json first")
    ap.add_argument("--train-parcels", type=int, default=30_000)
    ap.add_argument("--train-submissions", type=int, default=4000)
    ap.add_argument("--model-out", type=Path, default=None)
    ap.add_argument("--import-only", action="store_true", help="only measure the registry import")
    ap.add_argument("--no-reimport", action="store_true", help="skip the idempotent re-import check")
    ap.add_argument(
        "--real",
        type=int,
        default=0,
        metavar="N",
        help="instead: render N submissions, read them with the real pipeline (Tesseract) and match those reads",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="bench-match-") if args.workdir is None else None
    work = Path(tmp.name) if tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(_env_file=None)  # type: ignore[call-arg,unused-ignore]
    try:
        if args.real:
            return _real(work, args.real, args.seed, settings)
        if args.train:
            _train(args, work)
        data = work / f"test-{args.parcels}-{args.submissions}-{args.seed}"
        if not (data / "truth.jsonl").exists():
            t0 = time.perf_counter()
            info = make_samples(data, args.submissions, args.seed, parcels=args.parcels, absent_fraction=args.absent)
            print(f"test set: {info} ({time.perf_counter() - t0:.1f} s)")
        csv_path = data / "parcels.csv"
        engines = _import_registries(args, work, csv_path)
        if args.import_only:
            return 0
        truth = load_truth(data / "truth.jsonl")
        sim = Simulator(args.seed, args.noise)
        subs = [(t, sim.documents(t)) for t in truth]
        results = _match_ours(engines, subs, settings)
        base = subs[: args.baseline_submissions]
        names = [b for b in args.baselines.split(",") if b and b != "none"]
        if "rapidfuzz" in names:
            results.append(("rapidfuzz", _metrics(run_rapidfuzz(csv_path, base, settings.auto_accept_threshold))))
        if "splink" in names:
            outcomes, note = run_splink(csv_path, base, settings.auto_accept_threshold, args.seed)
            print(f"  splink: {note}")
            if outcomes:
                results.append(("splink", _metrics(outcomes)))
        if names and engines:
            label, engine = engines[0]
            results.append((f"ours/{label} same {len(base)}", _metrics(run_matcher(engine, base, settings))))
        print(
            f"\nmatching: {len(subs)} submissions ({sum(1 for t in truth if not t['parcel_id'])} absent), registry {args.parcels} parcels, noise {args.noise}"
        )
        _print_table(results)
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()


def _train(args: argparse.Namespace, work: Path) -> None:
    """--train: a training set on another seed, and the model fitted on it."""
    tdir = work / "train"
    t0 = time.perf_counter()
    info = make_samples(
        tdir, args.train_submissions, args.seed + 1000, parcels=args.train_parcels, absent_fraction=args.absent
    )
    print(f"training set: {info} ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    stats = train(tdir, args.model_out or MODEL_PATH, seed=args.seed + 1000, noise=args.noise)
    print(f"trained {stats['version']} in {time.perf_counter() - t0:.1f} s: {json.dumps(stats, default=str)}")


def _import_registries(args: argparse.Namespace, work: Path, csv_path: Path) -> list[tuple[str, Any]]:
    """The registry imported into SQLite (and its idempotent re-import) and PostgreSQL, as asked, timed."""
    rows = sum(1 for _ in csv_path.open(encoding="utf-8")) - 1
    engines: list[tuple[str, Any]] = []
    print(f"\nregistry import ({rows} rows, {csv_path.stat().st_size / 1e6:.0f} MB):")
    if not args.no_sqlite:
        db = work / f"bench-{args.parcels}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        engine, cost, report = _import(csv_path, f"sqlite:///{db}")
        print(f"  SQLite     {cost}  ({rows / cost.wall:.0f} rows/s wall; {report.summary().splitlines()[-1]})")
        if not args.no_reimport:
            t0, c0 = time.perf_counter(), time.process_time()
            again = _reimport(csv_path, engine)
            print(
                f"  SQLite re-import (idempotent) wall {time.perf_counter() - t0:.1f} s, "
                f"CPU {time.process_time() - c0:.1f} s + workers: {again}"
            )
        engines.append(("SQLite", engine))
    if args.postgres:
        url = _pg_database("intake_bench_match")
        engine, cost, report = _import(csv_path, url)
        print(f"  PostgreSQL {cost}  ({rows / cost.wall:.0f} rows/s wall; server CPU not counted)")
        engines.append(("PostgreSQL", engine))
    return engines


def _match_ours(
    engines: list[tuple[str, Any]], subs: list[tuple[dict[str, Any], list[Any]]], settings: Settings
) -> list[tuple[str, dict[str, float]]]:
    """Our matcher on every registry copy: the metrics, with superseded parcels and each kind printed."""
    results: list[tuple[str, dict[str, float]]] = []
    for label, engine in engines:
        outcomes = run_matcher(engine, subs, settings)
        results.append((f"ours/{label}", _metrics(outcomes)))
        split = [o for o in outcomes if o.superseded]
        if split:
            handled = sum(o.top == o.truth_parcel and o.band != "auto_accept" for o in split)
            print(
                f"  superseded (split) parcels: {handled}/{len(split)} proposed with the old record and sent to review ({label})"
            )
        kinds = Counter(o.kind for o in outcomes)
        for kind in sorted(kinds):
            part = [o for o in outcomes if o.kind == kind]
            m = _metrics(part)
            print(
                f"  {label} {kind:9} n={len(part):5}  top-1 {m['top1_accuracy']:.4f}  auto {m['auto_accept_rate']:.3f}  auto precision {m['auto_accept_precision']:.4f}"
            )
    return results


def _real(work: Path, n: int, seed: int, settings: Settings) -> int:
    """The check on real reads: rendered and degraded scans through load → OCR → extract, then matching."""
    out = work / f"real-{n}-{seed}"
    if not (out / "truth.jsonl").exists():
        generate(out, n, seed)
    engine, _cost, _report = _import(out / "parcels.csv", f"sqlite:///{work / f'real-{n}-{seed}.db'}")
    truth = {t["submission_id"]: t for t in load_truth(out / "truth.jsonl")}
    subs = []
    started = time.perf_counter()
    lines = []
    for submission in collect_submissions(sorted(p for p in (out / "submissions").iterdir() if p.is_dir())):
        result = process_submission(submission.submission_id, read_inputs(submission), settings=settings)
        lines.append(result.model_dump_json())
        subs.append((truth[submission.submission_id], result.documents))
    (out / "documents.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"read {len(subs)} submissions with the real pipeline in {time.perf_counter() - started:.0f} s")
    outcomes = run_matcher(engine, subs, settings)
    for o, (t, _docs) in zip(outcomes, subs, strict=True):
        print(
            f"  {t['submission_id']} {t['kind']:9} truth {t['parcel_id']!s:10} top {o.top!s:10} {o.confidence:.3f} {o.band}"
        )
    _print_table([(f"real reads ({len(subs)})", _metrics(outcomes))])
    return 0


def _reimport(csv_path: Path, engine: Any) -> str:
    r = import_csv(csv_path, engine)
    return f"{r.parcels_inserted} new, {r.parcels_updated} updated, {r.parcels_unchanged} unchanged parcels"


if __name__ == "__main__":
    sys.exit(main())
