"""A lexicon of Vietnamese name syllables, by position, to choose among OCR alternatives.

Tesseract's small `vie` model drops or swaps tone marks on stacked diacritics in bold capitals
(`NGUYỄN`→`NGUYÊN`, `HỒNG`→`HỎNG`). The letters underneath are almost always right, so a correction only
ever changes diacritics: among the lexicon entries with the same folded letters as the reading, pick the one
that best combines what the recogniser saw (its top character and its alternatives per position) with how
common the syllable is in that position of a name (surname, middle, given). An unknown syllable keeps the
reading: the lexicon can only add evidence, never erase a rare name.

The lists are general knowledge of Vietnamese naming (frequencies for surnames from public statistics,
domain.md), not records of any person.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from worker.vntext import clean, name_key

# surname: share in percent (domain.md), then less common ones
_SURNAMES = {
    "Nguyễn": 38.0, "Trần": 11.0, "Lê": 9.5, "Phạm": 7.0, "Hoàng": 2.6, "Huỳnh": 2.4, "Phan": 4.5, "Vũ": 1.8,
    "Võ": 2.1, "Đặng": 2.1, "Bùi": 2.0, "Đỗ": 1.4, "Hồ": 1.3, "Ngô": 1.3, "Dương": 1.0, "Lý": 0.5,
    "Trương": 0.9, "Đinh": 0.8, "Lâm": 0.5, "Mai": 0.5, "Cao": 0.5, "Lương": 0.5, "Hà": 0.5, "Thái": 0.4,
    "Tôn": 0.5, "Lữ": 0.2, "Văn": 0.2, "Châu": 0.3, "Ông": 0.1, "Mạc": 0.1, "Tạ": 0.3, "Tăng": 0.2,
    "Kiều": 0.2, "Đoàn": 0.6, "Vương": 0.3, "Trịnh": 0.5, "Chu": 0.2, "Quách": 0.2, "Lưu": 0.3, "Triệu": 0.2,
    "Hứa": 0.1, "Thân": 0.1, "Từ": 0.1, "Khúc": 0.05, "Âu": 0.05, "Đào": 0.4, "La": 0.1, "Nông": 0.1,
    "Phùng": 0.2, "Tô": 0.2, "Đồng": 0.1, "Giang": 0.1, "Diệp": 0.05, "Hầu": 0.05, "Ưng": 0.05,
}  # fmt: skip
# middle-name syllables (incl. second syllables of compound surnames such as Tôn Thất, Nguyễn Phúc)
_MIDDLE = {
    "Văn": 30, "Thị": 35, "Đức": 5, "Hữu": 5, "Minh": 6, "Quang": 5, "Thanh": 6, "Xuân": 4, "Đình": 4,
    "Công": 4, "Ngọc": 5, "Hồng": 4, "Kim": 4, "Thu": 3, "Đăng": 2, "Trọng": 2, "Thất": 1, "Phúc": 1,
    "Nữ": 1, "Tôn": 1, "Bảo": 2, "Gia": 2, "Thế": 2, "Anh": 2, "Tuấn": 1, "Mạnh": 1, "Như": 1, "Diệu": 1,
    "Mỹ": 1, "Bích": 1, "Phương": 1, "Khánh": 1, "Hoài": 1, "Thùy": 1, "Tấn": 1, "Duy": 1, "Viết": 1,
    "Bá": 1, "Nhật": 1, "Hải": 1, "Tường": 0.5, "Hoàng": 1, "Trung": 1, "Cẩm": 0.5, "Lệ": 0.5, "Quốc": 1,
    "Thúy": 0.5, "Vĩnh": 0.5, "Ái": 0.3, "Tú": 0.5, "Kha": 0.2,
}  # fmt: skip
# given-name syllables (both sexes)
_GIVEN = {
    "An": 3, "Anh": 4, "Ánh": 2, "Ân": 0.5, "Ẩn": 0.2, "Bảo": 2, "Bình": 3, "Bích": 2, "Cường": 3, "Chi": 2,
    "Chiểu": 0.2, "Cúc": 1, "Cận": 0.2, "Dũng": 4, "Duy": 2, "Dung": 3, "Diễm": 1, "Diễn": 0.5, "Duyên": 2,
    "Đạt": 2, "Đức": 3, "Đồng": 0.5, "Điệp": 0.5, "Giang": 2, "Hải": 4, "Hiếu": 2, "Hoàng": 2, "Hùng": 4,
    "Huy": 3, "Hà": 3, "Hạnh": 3, "Hằng": 3, "Hiền": 3, "Hoa": 3, "Hồng": 2, "Hương": 4, "Huyền": 2,
    "Hậu": 1, "Hợp": 0.5, "Hồ": 0.3, "Hòa": 2, "Huệ": 1, "Hưng": 2, "Hiệp": 1, "Hân": 1, "Khánh": 2,
    "Khoa": 2, "Kiên": 1, "Khiêm": 0.5, "Khuê": 0.5, "Lâm": 2, "Long": 3, "Lộc": 2, "Lập": 0.5, "Lợi": 1,
    "Luyện": 0.3, "Lan": 3, "Liên": 2, "Linh": 3, "Loan": 2, "Lụa": 0.3, "Lệ": 1, "Lực": 0.5, "Minh": 4,
    "Mai": 3, "My": 2, "Mận": 0.3, "Mỹ": 1, "Nam": 4, "Nghĩa": 2, "Nhân": 2, "Ngữ": 0.3, "Nhượng": 0.2,
    "Nga": 3, "Ngân": 2, "Ngọc": 2, "Nhung": 2, "Nguyệt": 1, "Nhạn": 0.3, "Nữ": 0.3, "Nguyên": 1, "Nhi": 2,
    "Oanh": 2, "Phong": 2, "Phúc": 2, "Phương": 3, "Phước": 1, "Quân": 2, "Quang": 2, "Quyết": 0.5,
    "Quyên": 1, "Quỳnh": 2, "Sơn": 3, "Sương": 0.5, "Sang": 1, "Tài": 2, "Tâm": 2, "Thắng": 3, "Thành": 3,
    "Thịnh": 2, "Toàn": 2, "Trí": 2, "Trung": 3, "Tuấn": 4, "Tùng": 2, "Tiễn": 0.5, "Thuận": 1, "Thật": 0.3,
    "Thới": 0.4, "Tồn": 0.2, "Thưởng": 0.4, "Thủy": 2, "Toản": 0.3, "Thảo": 3, "Thơ": 1, "Thu": 3,
    "Trang": 3, "Trâm": 1, "Tuyết": 2, "Tịnh": 0.5, "Trinh": 1, "Tú": 1, "Thư": 2, "Thanh": 2, "Tiến": 2,
    "Uyên": 1, "Ước": 0.2, "Ửng": 0.1, "Ưng": 0.2, "Việt": 2, "Vinh": 2, "Vũ": 2, "Vững": 0.3, "Vân": 2,
    "Vỹ": 0.3, "Vy": 1, "Xuân": 2, "Yến": 2, "Ý": 0.5, "Ỷ": 0.1, "Châu": 1, "Công": 0.5, "Cương": 0.5,
    "Đông": 1, "Hạ": 0.5, "Hiển": 0.5, "Hoài": 1, "Học": 0.3, "Hữu": 0.3, "Kỳ": 0.5, "Lễ": 0.3, "Lượng": 0.5,
    "Mẫn": 0.3, "Mừng": 0.3, "Nhật": 1, "Ninh": 0.5, "Phát": 1, "Phụng": 0.5, "Quế": 0.5, "Quý": 1,
    "Sáu": 0.3, "Sỹ": 0.3, "Tân": 1, "Thạch": 0.3, "Thân": 0.3, "Thiện": 1, "Thông": 1, "Thuần": 0.3,
    "Thùy": 1, "Thúy": 1, "Tín": 1, "Tình": 0.5, "Trường": 1, "Tư": 0.3, "Tường": 0.5, "Vương": 0.5,
    "Vượng": 0.3, "Xương": 0.2, "Yên": 0.5, "Ẩm": 0.05, "Ổn": 0.1, "Ứng": 0.1, "Ngà": 0.5, "Nở": 0.2,
    "Dậu": 0.2, "Tỵ": 0.1, "Sửu": 0.1, "Hợi": 0.1, "Diệu": 0.5, "Đào": 0.5, "Hường": 0.5, "Lựu": 0.2,
}  # fmt: skip

POSITIONS = ("surname", "middle", "given")


@dataclass(frozen=True)
class Entry:
    text: str  # upper case, NFC, one tone-placement convention
    log_prior: float


@cache
def _index() -> dict[str, dict[str, list[Entry]]]:
    """position -> folded key -> entries with those letters (e.g. NGUYEN -> NGUYỄN, NGUYÊN)."""
    out: dict[str, dict[str, list[Entry]]] = {}
    for pos, table in (("surname", _SURNAMES), ("middle", _MIDDLE), ("given", _GIVEN)):
        total = sum(table.values())
        by_key: dict[str, list[Entry]] = {}
        for word, weight in table.items():
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
    from rapidfuzz.distance import Levenshtein

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
