"""TD1 machine-readable zone (three lines of 30) on the chip CCCD back: parse, verify, repair, read.

Every ICAO 9303 check digit is verified. OCR confusions (O/0, I/1, B/8, S/5, ...) are repaired by the
character class each position must hold, and a digit field whose check digit fails is repaired only when
exactly one plausible single-character change satisfies it: a check digit detects every single
substitution, but it cannot tell which of several plausible changes is the right one, so ambiguity is
reported rather than guessed.

Vietnamese TD1 (domain.md): line 1 `IDVNM` + last 9 digits of the personal number + check + the full
12-digit number + `<<` + check digit of the 12-digit number; line 2 birth date, sex, expiry, `VNM`,
composite check; line 3 `SURNAME<<MIDDLE<GIVEN` without diacritics.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from worker.ocr.confusions import digit_translation, letter_translation
from worker.ocr.reader import Reader

MRZ_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
_WEIGHTS = (7, 3, 1)

# digits a reader plausibly confuses with each other (shape neighbours), for check-digit guided repair
_DIGIT_NEIGHBOURS = {
    "0": "689",
    "1": "74",
    "2": "7",
    "3": "8958",
    "4": "19",
    "5": "63",
    "6": "5803",
    "7": "12",
    "8": "3609",
    "9": "8034",
}


def char_value(ch: str) -> int:
    if ch.isdigit():
        return int(ch)
    if "A" <= ch <= "Z":
        return ord(ch) - ord("A") + 10
    if ch == "<":
        return 0
    raise ValueError(f"not an MRZ character: {ch!r}")


def check_digit(data: str) -> str:
    """ICAO 9303 check digit: weights 7,3,1 repeating; digits as value, A-Z as 10-35, `<` as 0; sum mod 10."""
    return str(sum(char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(data)) % 10)


def is_valid_check(data: str, digit: str) -> bool:
    try:
        return check_digit(data) == digit
    except ValueError:
        return False


@dataclass
class MrzResult:
    lines: list[str]
    document_code: str = ""
    issuing_state: str = ""
    document_number: str = ""  # the 9 characters of line 1 (last 9 digits of the personal number)
    id_number: str | None = None  # the 12-digit personal number from the optional data
    birth_date: date | None = None
    sex: str | None = None  # "male" / "female" / None
    expiry_date: date | None = None  # None when the card has no expiry
    nationality: str = ""
    surname: str = ""
    given_names: str = ""
    # check name -> passed; every check present in the zone is listed
    checks: dict[str, bool] = field(default_factory=dict)
    # human-readable notes on repairs (OCR confusions fixed, check-digit guided corrections)
    repairs: list[str] = field(default_factory=list)
    ambiguous: bool = False

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(self.checks.values()) and not self.ambiguous

    @property
    def full_name(self) -> str:
        """`NGUYEN VAN AN` (no diacritics: confirms, never replaces, the printed name)."""
        return " ".join(p for p in (self.surname, self.given_names) if p).strip()


def _as_digits(s: str) -> str:
    return s.translate(digit_translation("mrz"))


def _as_alpha(s: str) -> str:
    return s.translate(letter_translation("mrz"))


def _candidates(data: str, check: str, accept=None) -> list[tuple[str, str]]:
    """(data, check) readings consistent with the check digit: the reading itself when it passes, else every
    single plausible substitution that passes (and that `accept` allows). Empty when nothing fits."""
    ok = (lambda d: True) if accept is None else accept
    if is_valid_check(data, check) and ok(data):
        return [(data, check)]
    found: list[tuple[str, str]] = []
    for i, c in enumerate(data):
        for alt in _DIGIT_NEIGHBOURS.get(c, ""):
            cand = data[:i] + alt + data[i + 1 :]
            if is_valid_check(cand, check) and ok(cand):
                found.append((cand, check))
    # a check digit read as the filler beside it (the 12-digit number's, last on its line, after `<<`) can
    # be any digit: the one the data gives, which only the composite check then confirms (_choose)
    for alt in _DIGIT_NEIGHBOURS.get(check, "") if check != "<" else "0123456789":
        if is_valid_check(data, alt) and ok(data):
            found.append((data, alt))
    return found


def _parse_yymmdd(s: str, *, future: bool, today: date | None = None) -> date | None:
    if not re.fullmatch(r"\d{6}", s):
        return None
    today = today or date.today()
    yy, mm, dd = int(s[:2]), int(s[2:4]), int(s[4:])
    if future:
        # expiry: always within the next ~75 years (the last stage ends at 60)
        year = 2000 + yy if 2000 + yy >= today.year - 30 else 2100 + yy
    else:
        year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    try:
        return date(year, mm, dd)
    except ValueError:
        return None


def normalise_line(text: str) -> str:
    """Upper case, spaces dropped, characters outside the MRZ alphabet mapped to their usual misreads."""
    s = text.upper().replace(" ", "")
    s = s.replace("«", "<<").replace("‹", "<").replace("(", "<").replace("[", "<").replace("{", "<")
    s = s.replace("Ø", "0")
    return "".join(c if c in MRZ_ALPHABET else "<" for c in s)


def _fit(line: str, n: int = 30) -> str:
    if len(line) > n:
        # OCR sometimes doubles the filler: trim trailing filler first, then truncate
        stripped = line.rstrip("<")
        line = stripped + "<" * max(0, n - len(stripped)) if len(stripped) <= n else line[:n]
    return line.ljust(n, "<")[:n]


def parse_td1(raw_lines: list[str], *, today: date | None = None) -> MrzResult:
    """Parse three TD1 lines (already isolated), repairing OCR confusions and verifying every check digit.

    A data line read one character too long (a digit split in two: `6` → `60`) or too short (a dropped
    filler) shifts every field after the slip. When a line is not 30 characters, every single deletion or
    filler insertion is tried as well, and kept only when it passes more check digits than the reading as
    it came (the checks, not a guess, decide)."""
    raw = [normalise_line(x) for x in raw_lines[:3]]
    plain = _parse_td1_fixed(raw, today=today)
    if plain.valid:
        return plain
    # fields whose own check digit passed as read lie before the slip: a realignment must keep them
    kept = {
        name: getattr(plain, attr)
        for name, attr in (
            ("document_number", "document_number"),
            ("personal_number", "id_number"),
            ("birth_date", "birth_date"),
            ("expiry_date", "expiry_date"),
        )
        if plain.checks.get(name)
    }

    def key(res: MrzResult) -> tuple[int, int, int]:
        same = sum(
            getattr(res, attr) == kept[name]
            for name, attr in (
                ("document_number", "document_number"),
                ("personal_number", "id_number"),
                ("birth_date", "birth_date"),
                ("expiry_date", "expiry_date"),
            )
            if name in kept
        )
        return (*_score(res), same)

    found: list[MrzResult] = []
    for i in (0, 1):
        if i >= len(raw):
            continue
        line = raw[i]
        # trailing filler is trimmed by _fit anyway: only a slip inside the data shifts fields
        core = line.rstrip("<") if len(line) > 30 else line
        # (a deletion leaving 31 characters is then cut to 30: one slip plus a speck after the zone)
        if len(line) == 30 or not 28 <= len(core) <= 32 or (len(line) > 30 and len(core) < 30):
            continue
        # the document code and state (`IDVNM`) carry no check digit: a slip is looked for after them
        first = 5 if i == 0 and line.startswith("IDVNM") else 0
        if len(line) > 30:
            variants = {line[:k] + line[k + 1 :] for k in range(first, len(line))}
        else:
            variants = {line[:k] + "<" + line[k:] for k in range(first, len(line) + 1)}
        for variant in sorted(variants):
            cand = _parse_td1_fixed([*raw[:i], variant, *raw[i + 1 :]], today=today)
            # the sex has no check digit, but its position must hold one
            if cand.valid and cand.lines[1][7] in "MF<" and _score(cand) > _score(plain):
                cand.repairs.append(f"line {i + 1}: realigned a character OCR split or dropped")
                found.append(cand)
    if not found:
        return plain
    top = max(key(c) for c in found)
    best = [c for c in found if key(c) == top]
    if len({(c.id_number, c.document_number, c.birth_date, c.sex, c.expiry_date) for c in best}) > 1:
        # two realignments pass every check: the check digits cannot tell them apart, so neither is taken
        plain.repairs.append("realignment ambiguous")
        return plain
    return best[0]


@dataclass
class _Td1Reading:
    """A TD1 zone as read, each position repaired for the class of character it holds, and every reading of
    each checked field its check digit allows (the cross-field constraints pick among them)."""

    doc_code: str
    state: str
    optional: str  # the Vietnamese optional data: 12-digit number, `<<`, its check digit
    sex: str
    exp: str
    exp_check: str
    no_expiry: bool
    nationality: str
    opt2: str
    composite: str
    name_line: str
    fields: dict[str, tuple[str, str, list[tuple[str, str]]]]

    def assemble(self, choice: tuple[tuple[str, str], ...]) -> tuple[str, str, dict[str, bool]]:
        """Lines 1 and 2 with one reading per checked field, and which checks they pass."""
        vals = dict(zip(self.fields, choice, strict=True))
        n, nc = vals["document_number"]
        i12, i12c = vals["personal_number"]
        d, dc = vals["birth_date"]
        e, ec = vals.get("expiry_date", (self.exp, self.exp_check))
        line1 = self.doc_code + self.state + n + nc + i12 + self.optional[12:14] + i12c
        line2 = d + dc + self.sex + e + ec + self.nationality + self.opt2 + self.composite
        checks = {name: bool(self.fields[name][2]) for name in self.fields}
        if self.no_expiry:
            checks["expiry_date"] = ec in "<0"
        if re.fullmatch(r"\d{12}", i12):
            # the document number is the last 9 digits of the personal number: a free cross-check
            checks["number_consistency"] = i12[3:] == n
            checks["birth_year_consistency"] = i12[4:6] == d[:2]
        checks["composite"] = is_valid_check(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29], self.composite)
        return line1, line2, checks


def _read_td1(raw_lines: list[str], today: date | None) -> _Td1Reading:
    lines = [_fit(normalise_line(x)) for x in raw_lines[:3]]
    while len(lines) < 3:
        lines.append("<" * 30)
    l1, l2, l3 = lines
    number = _as_digits(l1[5:14])
    number_check = _as_digits(l1[14])
    optional = l1[15:30]
    id12 = _as_digits(optional[0:12])
    id12_check = _as_digits(optional[14])
    dob = _as_digits(l2[0:6])
    dob_check = _as_digits(l2[6])
    sex = l2[7]
    exp = l2[8:14]
    exp_check = l2[14]
    no_expiry = exp.strip("<") == ""
    if not no_expiry:
        exp, exp_check = _as_digits(exp), _as_digits(exp_check)

    def is_date(s: str) -> bool:
        return _parse_yymmdd(s, future=False, today=today) is not None

    fields = {
        "document_number": (number, number_check, _candidates(number, number_check)),
        "personal_number": (id12, id12_check, _candidates(id12, id12_check) if re.fullmatch(r"\d{12}", id12) else []),
        "birth_date": (dob, dob_check, _candidates(dob, dob_check, is_date)),
    }
    if not no_expiry:
        fields["expiry_date"] = (exp, exp_check, _candidates(exp, exp_check, is_date))
    return _Td1Reading(
        doc_code=_as_alpha(l1[0:2]),
        state=_as_alpha(l1[2:5]),
        optional=id12 + optional[12:14] + id12_check,
        sex={"H": "M", "N": "M", "P": "F", "E": "F"}.get(sex, sex),
        exp=exp,
        exp_check=exp_check,
        no_expiry=no_expiry,
        nationality=_as_alpha(l2[15:18]),
        opt2=l2[18:29],
        composite=_as_digits(l2[29]),
        name_line=l3,
        fields=fields,
    )


def _choose(td: _Td1Reading, repairs: list[str]) -> tuple[str, str, dict[str, bool], bool]:
    """The readings that pass the most checks: (line 1, line 2, checks, ambiguous); the repairs made are
    appended to `repairs`."""
    options = [c or [(d, k)] for d, k, c in td.fields.values()]
    scored = []
    for choice in itertools.product(*options):
        line1, line2, checks = td.assemble(choice)
        scored.append((sum(checks.values()), line1, line2, checks, choice))
    best_score = max(x[0] for x in scored)
    top = [x for x in scored if x[0] == best_score]
    _, l1, l2, checks, choice = top[0]
    ambiguous = len({(x[1], x[2]) for x in top}) > 1
    originals = tuple(f[:2] for f in td.fields.values())
    if not checks["composite"] and choice != originals:
        # a repair the composite check does not confirm is a guess: report the reading as it was
        l1, l2, checks = td.assemble(originals)
        checks.update({name: is_valid_check(*td.fields[name][:2]) for name in td.fields})
        choice = originals
    for name, picked, original in zip(td.fields, choice, originals, strict=True):
        if picked != original:
            repairs.append(f"{name}: check digit repaired a likely misread")
    if not checks["composite"] and not repairs and all(v for k, v in checks.items() if k != "composite"):
        # every field reads clean and checks, so the composite digit itself was misread (if it is a shape
        # neighbour); after another repair the composite is the only guard left, so it is never overridden
        fixed = check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
        if td.composite in _DIGIT_NEIGHBOURS.get(fixed, ""):
            l2 = l2[:29] + fixed
            checks["composite"] = True
            repairs.append("composite: check digit itself misread")
    return l1, l2, checks, ambiguous


def _parse_td1_fixed(raw_lines: list[str], *, today: date | None = None) -> MrzResult:
    td = _read_td1(raw_lines, today)
    res = MrzResult(lines=[])
    l1, l2, checks, res.ambiguous = _choose(td, res.repairs)
    res.checks = checks
    if re.fullmatch(r"\d{12}", l1[15:27]):
        res.id_number = l1[15:27]
    l3 = _as_alpha(td.name_line)
    name_parts = l3.rstrip("<").split("<<", 1)
    res.surname = name_parts[0].replace("<", " ").strip()
    res.given_names = name_parts[1].replace("<", " ").strip() if len(name_parts) > 1 else ""
    res.lines = [l1, l2, l3]
    res.document_code = td.doc_code.rstrip("<")
    res.issuing_state = td.state
    res.document_number = l1[5:14]
    res.birth_date = _parse_yymmdd(l2[0:6], future=False, today=today)
    res.sex = {"M": "male", "F": "female"}.get(td.sex)
    exp = l2[8:14]
    res.expiry_date = _parse_yymmdd(exp, future=True, today=today) if exp.strip("<") else None
    res.nationality = td.nationality
    if res.birth_date is None:
        res.checks["birth_date"] = False
    return res


def find_td1_lines(text_lines: list[str]) -> list[str] | None:
    """Pick the three MRZ lines out of OCR output lines (longest run of MRZ-looking lines at the bottom)."""
    cands = [normalise_line(t) for t in text_lines]
    cands = [c for c in cands if len(c) >= 20 and (c.count("<") >= 2 or c.startswith("ID"))]
    if len(cands) < 3:
        return None
    for i in range(len(cands) - 2):
        if cands[i].startswith(("ID", "I<", "1D", "IO")):
            return cands[i : i + 3]
    return cands[-3:]


def read_mrz(image: np.ndarray, reader: Reader, *, today: date | None = None) -> MrzResult | None:
    """Find and read a TD1 zone in the bottom part of a card image; None when there is no zone.

    OCR is restricted to the MRZ alphabet. Two crops of the bottom band are tried (they fail in
    different ways) and the reading with the most passing checks is kept."""
    h = image.shape[0]
    best: MrzResult | None = None
    for top in (0.62, 0.55):
        band = image[int(h * top) :, :]
        read = reader.read(band, lang="eng", psm=6, whitelist=MRZ_ALPHABET, scale=_mrz_scale(band))
        texts = [line.text for line in read.lines]
        lines = find_td1_lines(texts)
        if lines is None:
            continue
        res = parse_td1(lines, today=today)
        if best is None or _score(res) > _score(best):
            best = res
        if res.valid:
            break
    return best


def _mrz_scale(band: np.ndarray) -> float:
    # Tesseract reads best at ~30 px cap height; an MRZ line is ~1/20 of a 638 px tall card
    return 1.5 if band.shape[1] < 1400 else 1.0


def _score(res: MrzResult) -> tuple[int, int]:
    return (sum(res.checks.values()), -len(res.repairs))
