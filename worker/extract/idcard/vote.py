"""Deciding a field from its readings: a weighted vote in which a decoded QR or a checked MRZ outweighs any
number of OCR readings, a per-digit majority of readings that each slipped once, the birth year the
12-digit number carries; then the evidence behind the choice for the confidence model."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import numpy as np
from rapidfuzz import fuzz

from models import fields as F
from models.document import FieldValue
from worker.extract import validate as v
from worker.extract.idcard.evidence import (
    MRZ_NAME,
    PRINT_READS,
    REREADS,
    START_LOST,
    STARTS_BELOW_LABEL,
    Features,
    Reading,
)
from worker.extract.idcard.numbers import id_reading
from worker.extract.idcard.plausible import address_evidence, name_evidence
from worker.vntext import clean, expand_address, name_key

_ADDRESSES = (F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE, F.PLACE_OF_BIRTH)

# which source wins a disagreement, strongest first
PRIORITY = ("qr", "mrz", "lexicon", "ocr", "ocr_alt", "ocr_eng", "layout", "vote", "id_number", "rule")


# how much one source counts in a vote between disagreeing readings: a decoded QR or a verified MRZ
# outweighs any number of OCR readings; two OCR readings that agree outweigh one that differs
VOTE = {
    "qr": 10.0,
    "mrz": 8.0,
    "lexicon": 1.0,
    "ocr": 1.0,
    "ocr_alt": 1.0,
    # a number or date read by the `eng` model (numbers.py): another recogniser, so an independent reading
    "ocr_eng": 1.0,
    "layout": 1.0,
    "id_number": 1.5,
    "rule": 0.5,
    # the per-character majority of three or more disagreeing readings (see _consensus)
    "vote": 1.0,
}


def add_reading(readings: dict[str, list[Reading]], name: str, r: Reading) -> None:
    readings.setdefault(name, []).append(r)


def agree(a: object, b: object, name: str) -> bool:
    if a is None or b is None:
        return False
    if name == F.FULL_NAME:
        return name_key(str(a)) == name_key(str(b))
    if name in (F.PLACE_OF_RESIDENCE, F.PLACE_OF_ORIGIN, F.PLACE_OF_BIRTH):
        return fuzz.ratio(_addr_cmp(str(a)), _addr_cmp(str(b))) >= 97
    return a == b


def _addr_cmp(s: str) -> str:
    return re.sub(r"[^\w]", "", clean(s).lower())


def vote(rs: list[Reading], name: str) -> Reading:
    support: list[tuple[float, int, int, Reading]] = []
    for r in rs:
        weight = sum(
            VOTE[o.source] * (1.0 if o.valid else 0.5) * o.extra.get("weight", 1.0)
            for o in rs
            if agree(o.value, r.value, name) or o is r
        )
        support.append((weight, _plausible(r, name), -PRIORITY.index(r.source), r))
    return max(support, key=lambda t: (t[0], t[1], t[2]))[3]


def _plausible(r: Reading, name: str) -> int:
    """Between address readings the vote leaves tied, the one the catalogue confirms further and that holds
    fewer words no syllable can be (`Chương Dương` over `€Nờng Dương`); 0 for every other field."""
    if name not in _ADDRESSES or not r.value:
        return 0
    e = address_evidence(str(r.value))
    return e.places - e.junk


def _digit_string(name: str, value: object) -> str | None:
    """The characters a per-position vote compares: the number itself, a date as DDMMYYYY."""
    if name == F.ID_NUMBER:
        return str(value) if value and str(value).isdigit() else None
    d = iso_date(value)
    return d.strftime("%d%m%Y") if d else None


def add_consensus(readings: dict[str, list[Reading]], name: str) -> None:
    """Three or more OCR readings of a number or date that disagree: their per-character weighted majority
    joins the vote as one more reading (`079147329742`, `179147320742`, `078147329742` → `079147329742`:
    each misread one digit, at different places). Nothing is added on a tied position."""
    rs = [r for r in readings.get(name, []) if r.valid and r.source in PRINT_READS]
    strings = [_digit_string(name, r.value) for r in rs]
    pairs = [(r, x) for r, x in zip(rs, strings, strict=True) if x]
    if len(pairs) < 3 or len({x for _, x in pairs}) < 2 or len({len(x) for _, x in pairs}) != 1:
        return
    out = []
    for i in range(len(pairs[0][1])):
        votes: dict[str, float] = {}
        for r, x in pairs:
            votes[x[i]] = votes.get(x[i], 0.0) + VOTE[r.source] * r.extra.get("weight", 1.0)
        ranked = sorted(votes.values(), reverse=True)
        if len(ranked) > 1 and ranked[0] - ranked[1] < 1e-9:
            return
        out.append(max(votes, key=lambda ch: votes[ch]))
    joined = "".join(out)
    means = [r.char_conf for r, _ in pairs]
    mins = [r.min_char_conf for r, _ in pairs]
    if name == F.ID_NUMBER:
        rd = id_reading(joined, "vote", float(np.mean(means)), float(min(mins)), len(joined), (0, 0, 0, 0))
        rd.box = pairs[0][0].box
    else:
        d = v.make_date(int(joined[4:]), int(joined[2:4]), int(joined[:2]))
        if d is None:
            return
        rd = Reading(d.isoformat(), "vote", float(np.mean(means)), float(min(mins)), True, pairs[0][0].box)
    readings[name].append(rd)


def cross_check_years(readings: dict[str, list[Reading]]) -> None:
    """The 12-digit number carries the birth year (century digit + two year digits): an OCR reading of the
    number that agrees with what the birth-date readings say counts for more in the number's vote, and a
    birth-date reading that agrees with the number's readings counts for more in the date's vote."""
    ids = [r for r in readings.get(F.ID_NUMBER, []) if r.valid and re.fullmatch(r"\d{12}", str(r.value))]
    dobs = [r for r in readings.get(F.DATE_OF_BIRTH, []) if r.valid and iso_date(r.value) is not None]
    if not ids or not dobs:
        return

    def id_year(r: Reading) -> int:
        info = v.decode_id12(str(r.value))
        return int(info["birth_year"]) if info else 0  # type: ignore[call-overload]

    def dob_year(r: Reading) -> int:
        d = iso_date(r.value)
        return d.year if d else 0

    def top(rs: list[Reading], year: Callable[[Reading], int]) -> int:
        support: dict[int, float] = {}
        for r in rs:
            support[year(r)] = support.get(year(r), 0.0) + VOTE[r.source] * r.extra.get("weight", 1.0)
        return max(support, key=lambda y: support[y])

    id_top, dob_top = top(ids, id_year), top(dobs, dob_year)
    for r in ids:
        if id_year(r) == dob_top:
            r.extra["weight"] = r.extra.get("weight", 1.0) * 1.5
    for r in dobs:
        if dob_year(r) == id_top:
            r.extra["weight"] = r.extra.get("weight", 1.0) * 1.5


def decide(
    readings: dict[str, list[Reading]], warnings: list[str]
) -> tuple[dict[str, FieldValue], dict[str, Features]]:
    fields: dict[str, FieldValue] = {}
    features: dict[str, Features] = {}
    for name, rs in readings.items():
        if name == MRZ_NAME:
            continue
        rs = [r for r in rs if r.value not in (None, "") or "no_expiry" in r.extra or r.source == "mrz"]
        if not rs:
            continue
        valid_rs = [r for r in rs if r.valid] or rs
        chosen = vote(valid_rs, name)
        if name == F.FULL_NAME:
            chosen = _choose_name(valid_rs, readings.get(MRZ_NAME, []), warnings)
        agreeing = sorted(
            {r.source for r in rs if agree(r.value, chosen.value, name) or (r.value is None and chosen.value is None)}
        )
        disagreeing = [
            r
            for r in rs
            if (r.source in REREADS or r.source in ("qr", "mrz"))
            and r.value is not None
            and not agree(r.value, chosen.value, name)
            and r.valid
        ]
        warned = False
        for r in disagreeing:
            if r.source in ("qr", "mrz") or chosen.source in ("qr", "mrz"):
                warnings.append(str(v.disagreement(name, chosen.source, chosen.value, r.source, r.value)))
                warned = True
        feats = Features(
            field=name,
            sources=agreeing,
            char_conf=max(
                (r.char_conf for r in rs if r.source in REREADS or r.source == "lexicon"),
                default=chosen.char_conf,
            ),
            min_char_conf=max(
                (r.min_char_conf for r in rs if r.source in REREADS or r.source == "lexicon"),
                default=chosen.min_char_conf,
            ),
            valid=chosen.valid,
            disagreements=len(disagreeing),
            lexicon_posterior=next((r.extra.get("posterior", 0.0) for r in rs if r.source == "lexicon"), None),
            warned=warned,
            dissent=sum(
                1
                for r in rs
                if r.source in PRINT_READS
                and r.valid
                and r.value not in (None, "")
                and not agree(r.value, chosen.value, name)
            ),
        )
        # the QR's words cut to the print's: some dropped on one reading's word
        feats.repaired = bool(chosen.extra.get("reworded"))
        feats.starts_below = any(
            r.extra.get(STARTS_BELOW_LABEL) and agree(r.value, chosen.value, name) for r in rs
        )
        feats.start_lost = any(r.extra.get(START_LOST) and agree(r.value, chosen.value, name) for r in rs)
        zone = next((r for r in rs if r.source == "mrz"), None)
        if zone is not None and "mrz" in agreeing:
            feats.mrz_repairs = int(zone.extra.get("repairs", 0.0))
            feats.mrz_failed = not zone.valid
            feats.junk = int(zone.extra.get("junk", 0.0))
        if name == F.FULL_NAME:
            spelled = clean(str(chosen.value)).upper()
            feats.exact_reads = sum(
                1 for r in rs if r.source in PRINT_READS and clean(str(r.value)).upper() == spelled
            )
            mrz_names = readings.get(MRZ_NAME, [])
            if mrz_names and mrz_names[0].valid:
                feats.mrz_name_agrees = name_key(str(chosen.value)) == name_key(str(mrz_names[0].value))
                feats.warned = feats.warned or not feats.mrz_name_agrees
        features[name] = feats
        fields[name] = FieldValue(
            value=chosen.value, confidence=0.0, box=chosen.box, sources=agreeing or [chosen.source]
        )
        if name == F.PLACE_OF_RESIDENCE and chosen.value:
            fields[F.PLACE_OF_RESIDENCE_NORMALISED] = FieldValue(
                value=expand_address(str(chosen.value)), confidence=0.0, sources=fields[name].sources
            )
    return fields, features


def _choose_name(rs: list[Reading], mrz_names: list[Reading], warnings: list[str]) -> Reading:
    by = {r.source: r for r in rs}
    if "qr" in by:
        return by["qr"]
    chosen = by.get("lexicon") or by.get("ocr") or by.get("layout") or rs[0]
    layout = by.get("layout")
    if (
        layout is not None
        and len(str(layout.value).split()) < len(str(chosen.value).split())
        and name_evidence(str(chosen.value)).junk
        and not name_evidence(str(layout.value)).junk
    ):
        # the re-read split a word or took in a speck (`ĐÌ INH ... TH`) where the layout pass read clean words
        chosen = layout
    if mrz_names and mrz_names[0].valid:
        mrz_name = str(mrz_names[0].value)
        if name_key(str(chosen.value)) != name_key(mrz_name):
            # the letters disagree: a reading whose letters match the MRZ wins, else keep and warn
            for src in ("lexicon", "ocr", "layout"):
                r = by.get(src)
                if r is not None and name_key(str(r.value)) == name_key(mrz_name):
                    return r
            warnings.append(str(v.disagreement(F.FULL_NAME, chosen.source, chosen.value, "mrz", mrz_name)))
    return chosen


def iso_date(value: object) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None
