"""The matching benchmark's sample sets without images: a generated registry (parcels.csv) and the truth of
the submissions against it (truth.jsonl, in the fixtures format), for `python -m bench match` and the
matching tests."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from fixtures.gcn import owner_truth
from fixtures.mrz import person_mrz
from fixtures.registry import allocate_parcel_ids, write_registry
from fixtures.samples import parcel_key, plan_submission


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
