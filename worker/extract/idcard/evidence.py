"""What one reading of a card field is, and the evidence behind a chosen value that the confidence model
weighs (worker/extract/confidence.py; the fitted weights are confidence_model.json beside this module)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

import numpy as np

from models import fields as F
from worker.extract.confidence import FALLBACK_FAMILY, LogisticModel, fit_logistic


@dataclass
class Reading:
    """One source's value for a field, with what the confidence model needs to know about it."""

    value: object
    source: str  # "ocr" (region re-read), "layout" (first pass), "qr", "mrz", "lexicon", "id_number"
    char_conf: float = 0.0
    min_char_conf: float = 0.0
    valid: bool = True
    box: list[int] | None = None
    extra: dict[str, float] = dc_field(default_factory=dict)


# the MRZ's holder name (no diacritics): a reading that confirms the printed name's letters, never a field
MRZ_NAME = "mrz_name"

FAMILIES = {
    F.ID_NUMBER: "id_number",
    F.OLD_ID_NUMBER: "id_number",
    F.DATE_OF_BIRTH: "date",
    F.DATE_OF_EXPIRY: "date",
    F.ISSUE_DATE: "date",
    F.SEX: "sex",
    F.FULL_NAME: "name",
    F.PLACE_OF_RESIDENCE: "address",
    F.PLACE_OF_RESIDENCE_NORMALISED: "address",
    F.PLACE_OF_ORIGIN: "address",
    F.PLACE_OF_BIRTH: "address",
    F.PERSONAL_IDENTIFICATION: "address",
}

FEATURE_NAMES = (
    "bias",
    "qr",
    "mrz",
    "ocr_sources",
    "char_conf",
    "min_char_conf",
    "valid",
    "disagreements",
    "lexicon_posterior",
    "lexicon_unknown",
    "mrz_name",
    "issue_errors",
    "issue_warnings",
    "typewriter",
)


@dataclass
class Features:
    field: str
    sources: list[str] = dc_field(default_factory=list)
    char_conf: float = 0.0
    min_char_conf: float = 0.0
    valid: bool = True
    disagreements: int = 0
    lexicon_posterior: float | None = None
    mrz_name_agrees: bool | None = None
    issue_errors: int = 0
    issue_warnings: int = 0
    # the 9-digit CMND is typed on a dotted form: its digits are misread with high recogniser confidence
    typewriter: bool = False
    # the 2016 card prints its number in red over the guilloche (a value of the print, not of a code)
    red_print: bool = False
    # a rule or cross-check warning names this field (the value conflicts with another one): never >= 0.9
    warned: bool = False
    # text values: units of an address the official lexicons confirm (None: not an address), and words
    # no syllable, house number or abbreviation can be (plausible.py)
    places: int | None = None
    junk: int = 0
    unchecked: int = 0
    # readings of the print that gave another valid value (the vote outweighed them)
    dissent: int = 0
    # a name's readings of the print that spell it exactly as chosen, diacritics included (None: not a name)
    exact_reads: int | None = None
    # a rule replaced the value as read by the one value it allows near it (checks.py)
    repaired: bool = False
    # the machine-readable zone behind the value: characters its check digits repaired, whether a check
    # failed (None: no zone)
    mrz_repairs: int = 0
    mrz_failed: bool | None = None
    # the law allows the card's class one value for the field (card.py: a citizen's card's nationality)
    by_law: bool = False
    # a residence with nothing read on its label's line (STARTS_BELOW_LABEL)
    starts_below: bool = False
    # a name whose line holds a garbled capital before its first word (START_LOST)
    start_lost: bool = False

    @property
    def family(self) -> str:
        return FAMILIES.get(self.field, FALLBACK_FAMILY)

    def vector(self) -> np.ndarray:
        ocr_sources = sum(s in PRINT_READS or s == "lexicon" for s in self.sources)
        lex = self.lexicon_posterior
        return np.array(
            [
                1.0,
                float("qr" in self.sources),
                float("mrz" in self.sources),
                float(ocr_sources),
                self.char_conf,
                self.min_char_conf,
                float(self.valid),
                float(self.disagreements),
                lex if lex is not None else 0.0,
                float(lex is not None and lex <= 0.0),
                0.0 if self.mrz_name_agrees is None else (1.0 if self.mrz_name_agrees else -1.0),
                float(self.issue_errors),
                float(self.issue_warnings),
                float(self.typewriter),
            ]
        )


# hand-set fallback: agreement and machine-readable sources dominate, format validity gates
_DEFAULT = (-3.0, 5.0, 4.0, 1.2, 2.0, 1.5, 1.5, -1.5, 1.0, -0.5, 1.5, -2.5, -0.8, -0.5)
MODEL = LogisticModel(
    Path(__file__).with_name("confidence_model.json"),
    FEATURE_NAMES,
    {FALLBACK_FAMILY: _DEFAULT},
    bounds=(0.001, 0.999),
)


# the most a value may be given while a warning names it (a conflict says one of two readings is wrong), by
# how often such values were still right on real captures: an expiry the age rule forbids almost never, a
# birth date the number's year contradicts mostly (the number's digit is the likelier misread)
WARNED_CAP = {F.DATE_OF_EXPIRY: 0.2, F.DATE_OF_BIRTH: 0.8}
WARNED_CAP_OTHER = 0.5
# text evidence the synthetic-fitted model does not see, and what a value lacking it may be given at most:
# on real captures a value holding a word no syllable can be was never right, nor an address whose last
# part names no province; one the lexicons confirm only in part was right about as often as not
JUNK_CAP = 0.15
# one OCR reading alone, nothing machine-readable behind it: on real captures the recogniser is as sure of
# a misread digit as of a right one, so a value no second reading confirmed is right about 4 times in 5
# (a date, whose format checks a little) or less
SINGLE_READ_CAP = {"date": 0.8}
SINGLE_READ_CAP_OTHER = 0.7
# a reading of the print that gave another valid value: the vote chose, but on real captures the chosen
# value was then right about half the time
DISSENT_CAP = 0.6
# a value a rule put in place of a reading one or two digits from it: on real captures right nearly always,
# but no reading saw it
REPAIRED_CAP = 0.8
# a value the zone gives after its check digits repaired a character, or from a zone whose other checks
# failed (its own check passed): the check digit confirms one substitution, it cannot rule out two
MRZ_REPAIRED_CAP = 0.85
# the zone itself (its three lines) when a check failed: some character in it is wrong
MRZ_FAILED_CAP = 0.5
# a name no reading of the print spelled as chosen (the readings agree on the letters, the lexicon chose
# the diacritics): on real captures right two times in three
UNSPELLED_NAME_CAP = 0.75
# the print read again region by region, each with other settings or by another model (numbers.py, text.py),
# and with the layout pass every reading of the print: the sources that vote, dissent and count as reads
REREADS = frozenset({"ocr", "ocr_alt", "ocr_eng"})
PRINT_READS = REREADS | {"layout"}
# readings of the print made independently of each other (lexicon and vote are made from these)
_INDEPENDENT = PRINT_READS | {"id_number"}
NO_PLACE_CAP = 0.25
PART_PLACE_CAP = 0.75
# a typed card's address with a part the catalogue cannot check (the hamlet): the typewriter's diacritics
# are misread with high recogniser confidence, and both readings repeat the misread (`Triểu` for `Triều`)
TYPED_UNCHECKED_CAP = 0.8
# a typed card's name with nothing machine-readable behind it: the typewriter's tone marks on capitals are
# misread with high recogniser confidence and every reading of the same pixels repeats the misread (real
# 9-digit cards: 3 of 8 names read from the print were a tone mark off, one of them at 0.98 in a variant of
# the row reading)
TYPED_NAME_CAP = 0.8
# a number printed in red over the guilloche and read from the print alone: on real captures the recogniser
# misread a digit of it on 3 of 5 cards, and every reading of the same pixels repeated the misread, so their
# agreement does not confirm it; the number's structure checks only its first six digits
RED_PRINT_CAP = 0.85


# a residence read wholly from the lines under its label, where every card prints the value's start (text.py):
# its first part may be lost, and the rest is a whole address the lexicons confirm
STARTS_BELOW_LABEL = "starts_below_label"
STARTS_BELOW_CAP = 0.8


# a name whose line holds letters of a name (capitals) before its first word, right of where the value
# column starts (text.py): its first word(s) were garbled and dropped, and every reading of the rest agrees
# on the rest; no better than a reading the vote had to choose against
START_LOST = "start_lost"
START_LOST_CAP = 0.6


# a value the law fixes for the card's class: right whenever the card was classified right (every real
# capture of the dev set), whatever the print gave
BY_LAW_CONFIDENCE = 0.95


def score(f: Features) -> float:
    p = MODEL.probability(f.family, f.vector())
    if f.by_law:
        p = max(p, BY_LAW_CONFIDENCE)
    if f.warned:
        p = min(p, WARNED_CAP.get(f.field, WARNED_CAP_OTHER))
    if f.junk:
        p = min(p, JUNK_CAP)
    if f.dissent:
        p = min(p, DISSENT_CAP)
    if f.repaired:
        p = min(p, REPAIRED_CAP)
    if f.exact_reads == 0 and "qr" not in f.sources:
        p = min(p, UNSPELLED_NAME_CAP)
    alone = f.mrz_failed is not None and not (PRINT_READS | {"qr"}) & set(f.sources)
    if alone and (f.mrz_repairs or f.mrz_failed):  # the zone alone stands behind the value
        p = min(p, MRZ_FAILED_CAP if f.mrz_failed and f.field == F.MRZ else MRZ_REPAIRED_CAP)
    single = not {"qr", "mrz"} & set(f.sources) and len(_INDEPENDENT & set(f.sources)) <= 1
    # (a closed list checks the rest: an issuer or a nationality read once is one of a few known names)
    if single and f.family != FALLBACK_FAMILY:
        p = min(p, SINGLE_READ_CAP.get(f.family, SINGLE_READ_CAP_OTHER))
    if f.places is not None:
        p = min(p, NO_PLACE_CAP if f.places == 0 else PART_PLACE_CAP if f.places < 3 else 1.0)
        if f.typewriter and f.unchecked:
            p = min(p, TYPED_UNCHECKED_CAP)
    if f.typewriter and f.field == F.FULL_NAME and not {"qr", "mrz"} & set(f.sources):
        p = min(p, TYPED_NAME_CAP)
    if f.red_print and not {"qr", "mrz"} & set(f.sources):
        p = min(p, RED_PRINT_CAP)
    if f.starts_below and not {"qr", "mrz"} & set(f.sources):
        p = min(p, STARTS_BELOW_CAP)
    if f.start_lost and not {"qr", "mrz"} & set(f.sources):
        p = min(p, START_LOST_CAP)
    return p


def fit(samples: list[tuple[Features, bool]], *, version: str, model: LogisticModel = MODEL) -> dict[str, list[float]]:
    """Fit one logistic model per field family on (features, was the value exactly right) and store it."""
    by_family: dict[str, list[tuple[np.ndarray, float]]] = {}
    for f, ok in samples:
        by_family.setdefault(f.family, []).append((f.vector(), float(ok)))
    weights: dict[str, list[float]] = {}
    for fam, rows in by_family.items():
        x = np.stack([r[0] for r in rows])
        y = np.array([r[1] for r in rows])
        if len(set(y)) < 2:
            # all right (or all wrong): a model cannot be fitted; a strong bias says the same honestly
            rate = (y.sum() + 0.5) / (len(y) + 1.0)
            w = np.zeros(len(FEATURE_NAMES))
            w[0] = math.log(rate / (1 - rate))
        else:
            w = fit_logistic(x, y)
        weights[fam] = [round(float(c), 5) for c in w]
    model.save(weights, version=version)
    return weights
