"""A lexicon of Vietnamese name syllables, by position, to choose among OCR alternatives.

Tesseract's small `vie` model drops or swaps tone marks on stacked diacritics in bold capitals
(`NGUYỄN`→`NGUYÊN`, `HỒNG`→`HỎNG`). The letters underneath are almost always right, so a correction only
ever changes diacritics: among the lexicon entries with the same folded letters as the reading, pick the one
that best combines what the recogniser saw (its top character and its alternatives per position) with how
common the syllable is in that position of a name (surname, middle, given). An unknown syllable keeps the
reading: the lexicon can only add evidence, never erase a rare name.

The syllables and their weights are data (worker/extract/data/name_syllables.tsv): general knowledge of
Vietnamese naming, surname frequencies from public statistics, not records of any person.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from rapidfuzz.distance import Levenshtein

from models.elements import Word
from worker.extract.data import table
from worker.vntext import clean, name_key

POSITIONS = ("surname", "middle", "given")


@dataclass(frozen=True)
class Entry:
    text: str  # upper case, NFC, one tone-placement convention
    log_prior: float


@cache
def _index() -> dict[str, dict[str, list[Entry]]]:
    """position -> folded key -> entries with those letters (e.g. NGUYEN -> NGUYỄN, NGUYÊN)."""
    out: dict[str, dict[str, list[Entry]]] = {}
    weights: dict[str, dict[str, float]] = {pos: {} for pos in POSITIONS}
    for pos, syllable, share in table("name_syllables"):
        weights[pos][syllable] = float(share)
    for pos, syllables in weights.items():
        total = sum(syllables.values())
        by_key: dict[str, list[Entry]] = {}
        for word, weight in syllables.items():
            up = clean(word).upper()
            by_key.setdefault(name_key(up), []).append(Entry(up, math.log(weight / total)))
        out[pos] = by_key
    return out


def known(word: str, position: str | None = None) -> bool:
    up = clean(word).upper()
    positions = (position,) if position else POSITIONS
    return any(up in (e.text for e in _index()[p].get(name_key(up), [])) for p in positions)


def candidates(word: str, position: str) -> list[Entry]:
    """Lexicon entries for this position with the same letters (diacritics aside) as `word`."""
    idx = _index()
    found = list(idx[position].get(name_key(word), []))
    # a syllable out of place (a given name used as middle name, ...) still counts, at a discount
    for other in POSITIONS:
        if other != position:
            found += [Entry(e.text, e.log_prior - 4.0) for e in idx[other].get(name_key(word), [])]
    best: dict[str, Entry] = {}
    for e in found:
        if e.text not in best or e.log_prior > best[e.text].log_prior:
            best[e.text] = e
    return list(best.values())


def _base(ch: str) -> str:
    return name_key(ch) or ch


def _char_loglik(cand: str, choices: Sequence[tuple[str, float]]) -> float:
    """log P(what was seen | the true character is `cand`) from the recogniser's ranked alternatives."""
    top, conf = choices[0] if choices else ("", 0.0)
    cand_up = cand.upper()
    if top.upper() == cand_up:
        return math.log(max(conf, 0.05))
    # same letter, other diacritics: the confusion we are here to fix; anything else is a real misread
    score = math.log(0.02) if _base(top) == _base(cand) else math.log(1e-4)
    for rank, (alt, _) in enumerate(choices[1:], start=1):
        if alt.upper() == cand_up:
            # the recogniser considered it: evidence for it, the more so the higher it ranked
            return max(score, math.log(max(1.0 - conf, 0.02)) - 0.3 * (rank - 1))
    return score


# an unknown spelling next to a known one with the same letters is usually a tone misread: the recogniser's
# own confidence does not see those (it reports 0.99 for NGUYÊN), so the lexicon has to outweigh it
UNKNOWN_LOG_PRIOR = math.log(1e-5)


def correct_word(
    reading: str, choices: Sequence[Sequence[tuple[str, float]]] | None, position: str
) -> tuple[str, float, bool]:
    """Best spelling for one name syllable: (text, posterior probability of it 0..1, changed?)."""
    reading = clean(reading).upper()
    cands = candidates(reading, position)
    if not cands:
        near = _one_edit(reading, position)
        # `THỊT` for `THỊ`, `VĂNN` for `VĂN`: a speck read as a letter next to the commonest middle names
        return (near, 0.5, True) if near else (reading, 0.0, False)
    nfc_reading = unicodedata.normalize("NFC", reading)
    per_char = choices if choices and len(choices) == len(nfc_reading) else None
    scored: list[tuple[float, str]] = []
    options = {e.text: e.log_prior for e in cands}
    if nfc_reading not in options:
        options[nfc_reading] = UNKNOWN_LOG_PRIOR
    for text, prior in options.items():
        if per_char is None or len(text) != len(per_char):
            ll = (
                0.0
                if text == nfc_reading
                else math.log(0.01) * sum(a != b for a, b in zip(text, nfc_reading, strict=False))
                + math.log(0.01) * abs(len(text) - len(nfc_reading))
            )
        else:
            ll = sum(_char_loglik(c, ch) for c, ch in zip(text, per_char, strict=True))
        scored.append((ll + prior, text))
    scored.sort(reverse=True)
    m = scored[0][0]
    z = sum(math.exp(s - m) for s, _ in scored)
    best = scored[0][1]
    return best, 1.0 / z, best != nfc_reading


def _one_edit(reading: str, position: str) -> str | None:
    """A syllable one inserted or dropped letter away from a very common one (>= 5% in its position)."""
    if len(reading) < 3:
        return None
    idx = _index()[position]
    hits = {
        e.text
        for entries in idx.values()
        for e in entries
        if e.log_prior >= math.log(0.05)
        and abs(len(e.text) - len(reading)) == 1
        and Levenshtein.distance(e.text, reading) == 1
    }
    return hits.pop() if len(hits) == 1 else None


def position_of(index: int, count: int) -> str:
    if index == 0:
        return "surname"
    return "given" if index == count - 1 else "middle"


def correct_name(
    words: Sequence[str], choices: Sequence[Sequence[Sequence[tuple[str, float]]] | None] | None = None
) -> tuple[str, list[float], int]:
    """Correct every syllable of a full name. Returns (name, per-word posterior or 0 if unknown, changes)."""
    out: list[str] = []
    probs: list[float] = []
    changes = 0
    n = len(words)
    for i, w in enumerate(words):
        ch = choices[i] if choices is not None and i < len(choices) else None
        text, p, changed = correct_word(w, ch, position_of(i, n))
        out.append(text)
        probs.append(p)
        changes += changed
    return " ".join(out), probs, changes


@dataclass(frozen=True)
class CorrectedName:
    text: str  # the name in the lexicon's spelling
    posterior: float  # the lowest posterior of a syllable the lexicon knows (0 when it knows none)
    changes: int  # syllables whose spelling changed
    unknown: int  # syllables the lexicon does not know
    read: str  # what was read (cleaned) before the correction


def correct_words(
    words: Sequence[str], choices: Sequence[Sequence[Sequence[tuple[str, float]]] | None] | None = None
) -> CorrectedName:
    """`correct_name` with its evidence summed up for a confidence model."""
    name, probs, changes = correct_name(words, choices)
    known = [p for p in probs if p > 0]
    return CorrectedName(name, min(known) if known else 0.0, changes, len(probs) - len(known), " ".join(words))


def correct_reading(words: Iterable[Word], clean_word: Callable[[str], str]) -> CorrectedName | None:
    """A name read character by character (a reader's `read_line(..., choices=True)`), through the lexicon.
    Each word is cleaned by the reader's own rule (what counts as a letter of a name on its documents); the
    recogniser's per-letter alternatives are used for the words the cleaning left as they were read."""
    cleaned: list[str] = []
    choices: list[list[list[tuple[str, float]]] | None] = []
    for w in words:
        text = clean_word(w.text)
        if not text:
            continue
        cleaned.append(text)
        choices.append([s.choices for s in w.symbols] if text == clean(w.text).upper() else None)
    return correct_words(cleaned, choices) if cleaned else None
