"""Character-level differences between a scanned value and a registry value, after normalisation.

Both sides are normalised first (NFC, one tone-placement convention, single spaces, upper case) so that
`Hoà`/`Hòa` or a double space never show as a difference; what remains is a real difference, and a
difference only in diacritics (`NGUYÊN` vs `NGUYỄN`, typical OCR trouble) is marked apart from a different
letter."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Literal

from worker.vntext import clean, strip_diacritics

Kind = Literal["same", "diacritic", "changed", "missing"]


@dataclass(frozen=True)
class Segment:
    text: str
    kind: Kind


def normalise_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(str(value)).upper()


def char_diff(scanned: Any, record: Any) -> tuple[list[Segment], list[Segment], bool]:
    """(scanned segments, record segments, equal) where each side's segments cover its normalised text."""
    a, b = normalise_value(scanned), normalise_value(record)
    if a == b:
        return ([Segment(a, "same")] if a else []), ([Segment(b, "same")] if b else []), True
    left: list[Segment] = []
    right: list[Segment] = []
    # autojunk off: short values, and every character matters
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    other_number = a.isdigit() and b.isdigit() and len(a) != len(b)  # e.g. a 12-digit ID vs a 9-digit CMND
    if a and b and (other_number or matcher.ratio() < 0.5):
        # mostly different (another person, a 9-digit CMND against a 12-digit number): a confetti of
        # highlighted characters would suggest a near miss; say "different" plainly
        return [Segment(a, "changed")], [Segment(b, "changed")], False
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        sa, sb = a[i1:i2], b[j1:j2]
        if op == "equal":
            left.append(Segment(sa, "same"))
            right.append(Segment(sb, "same"))
        elif op == "replace" and strip_diacritics(sa) == strip_diacritics(sb):
            left.append(Segment(sa, "diacritic"))
            right.append(Segment(sb, "diacritic"))
        else:
            if sa:
                left.append(Segment(sa, "changed" if sb else "missing"))
            if sb:
                right.append(Segment(sb, "changed" if sa else "missing"))
    return _merge(left), _merge(right), False


def _merge(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for seg in segments:
        if out and out[-1].kind == seg.kind:
            out[-1] = Segment(out[-1].text + seg.text, seg.kind)
        else:
            out.append(seg)
    return out
