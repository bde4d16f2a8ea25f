"""The residence a card's QR code holds, worded as the card prints it.

The QR payload comes from the population register and words the address its own way: it names the hamlet's
type and number the print leaves out (`Thôn`, `Đội 3, Thôn ...`, `Tổ 3, ...`, `Xã ...`), and leaves out words
the print has (`Thị xã`, `KV`). The printed value is what the card says, so the QR's spelling is kept for the
words the print shows, the print's own words stay, and what only the QR holds goes, but only where that is
an administrative word or a numbered unit; anything else only the QR names may have been lost by the read,
and then the QR's value stands as it is.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from functools import cache

from rapidfuzz.distance import Levenshtein

from worker import lexicons
from worker.extract.data import word_list
from worker.extract.idcard.plausible import is_syllable
from worker.vntext import clean, name_key

# words; a letter run and the number after it are two (`Khóm3`), a number run into letters is one (`2ce`)
_TOKEN = re.compile(r"[^\W\d_]+(?=\d)|\d+(?![^\W\d_])|[^\W_]+")
# abbreviations of unit types printed before a name (khu vực, tổ dân phố, khu phố, thị xã, ...)
_ABBREVIATIONS = frozenset({"KV", "TDP", "KP", "TP", "TX", "TT", "P", "Q", "X", "H"})


@cache
def _unit_words() -> frozenset[str]:
    """Folded words of administrative unit types and address words (`THON`, `XA`, `THI`, `TRAN`, ...)."""
    names = (*word_list("admin_words"), *lexicons.UNIT_KINDS)
    return frozenset(w for n in names for w in name_key(n).split())


def _tokens(text: str) -> list[re.Match[str]]:
    return list(_TOKEN.finditer(text))


def _as_qr(key: str, qr_keys: list[str]) -> str:
    """A folded print word as the QR word it is with one letter misread in a long word (`CHIENC` for
    `CHIENG`), when exactly one QR word is that close; else as read."""
    if key in qr_keys or len(key) < 4:
        return key
    near = {q for q in qr_keys if len(q) >= 4 and Levenshtein.distance(key, q) <= 1}
    return near.pop() if len(near) == 1 else key


def _unit_run(keys: list[str]) -> bool:
    """Words only the QR names that the print may leave out: unit types (`THON`, `XA`) and numbered units
    (`DOI 3`, `TO 3`: a word followed by its number)."""
    return bool(keys) and all(
        k in _unit_words() or k.isdigit() or (i + 1 < len(keys) and keys[i + 1].isdigit()) for i, k in enumerate(keys)
    )


def _kept(word: str) -> bool:
    """A word the print holds and the QR does not that belongs in the value (not OCR noise)."""
    key = name_key(word)
    return key in _ABBREVIATIONS or key in _unit_words()


def _unexplained(words: list[re.Match[str]]) -> bool:
    """Print words between two shared runs that are neither unit words nor noise: a syllable or a number
    the QR does not hold (`rờng 5` where the QR has `Phường 5`) says the two differ, or the read went wrong."""
    return any(
        len(t.group(0)) >= 2 and (t.group(0).isdigit() or is_syllable(t.group(0))) and not _kept(t.group(0))
        for t in words
    )


def print_shaped(qr_value: str, printed: str) -> str | None:
    """The QR's residence worded as `printed` (an OCR reading of the print) words it, or None when the
    reading does not cover the QR's address to its province or the two differ in more than wording."""
    qr, pr = _tokens(qr_value), _tokens(clean(printed))
    qk = [name_key(t.group(0)) for t in qr]
    # a print word one letter from a QR word is that word misread: compare it as the QR's
    pk = [_as_qr(name_key(t.group(0)), qk) for t in pr]
    blocks = [b for b in SequenceMatcher(None, pk, qk, autojunk=False).get_matching_blocks() if b.size]
    if not qr or not blocks or blocks[-1].b + blocks[-1].size != len(qk):
        return None  # the reading does not reach the province
    out: list[tuple[str, str]] = []  # (word, separator after it)
    prev_p = prev_q = 0
    for i, b in enumerate(blocks):
        only_qr, only_print = qk[prev_q : b.b], pr[prev_p : b.a]
        if _misread(only_qr, only_print):
            # as many print words as QR words in their place: the same words misread (`Tể` for `Tổ`)
            out += [(qr[j].group(0), _sep(qr_value, qr, j)) for j in range(prev_q, b.b)]
        elif only_qr and not _unit_run(only_qr):
            return None  # a name only the QR holds: the read may have lost it
        elif i > 0 and _unexplained(only_print):
            return None
        else:
            # keep the print's unit words (`KV`, `Thị xã`); drop specks, and before the first shared word a
            # label's garbled rest (`2ce of 6s`)
            out += [(t.group(0), " ") for t in only_print if _kept(t.group(0))]
        out += [(qr[j].group(0), _sep(qr_value, qr, j)) for j in range(b.b, b.b + b.size)]
        prev_p, prev_q = b.a + b.size, b.b + b.size
    return "".join(w + s for w, s in out).strip(" ,")


def _misread(qr_keys: list[str], printed: list[re.Match[str]]) -> bool:
    """As many print words as QR words in their place, each a syllable one letter from its QR word, or no
    syllable at all and about its length: the same words misread (`Tể` for `Tổ`, `Lm` for `Cụm`)."""
    return (
        bool(qr_keys)
        and len(qr_keys) == len(printed)
        and all(
            Levenshtein.distance(name_key(t.group(0)), q) <= 1
            if is_syllable(t.group(0))
            else abs(len(t.group(0)) - len(q)) <= 1
            for q, t in zip(qr_keys, printed, strict=True)
        )
    )


def _sep(text: str, tokens: list[re.Match[str]], j: int) -> str:
    """What follows token j in the QR's text, spaced as there (`, `, `/` of a house number, `. ` of `TP. Huế`),
    else a space."""
    end = tokens[j + 1].start() if j + 1 < len(tokens) else len(text)
    between = text[tokens[j].end() : end]
    return ", " if "," in between else re.sub(r"\s+", " ", between) or " "
