"""The matchers the matching benchmark compares, each giving an Outcome per submission: ours (worker.match),
a plain rapidfuzz best-score baseline and Splink."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from bench.match_report import Outcome
from models.settings import Settings
from worker.keys import id_digits, serial_key
from worker.match import Matcher
from worker.match.features import scan_submission
from worker.vntext import name_key


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
