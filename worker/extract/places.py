"""Place-name spelling for addresses read off cards: provinces, Huế's wards and communes (before and after
the 2025 mergers), and the administrative words. Like the name lexicon, a correction only ever changes
diacritics: a run of words whose folded letters equal a known name takes that name's spelling
(`Quảng Tri` → `Quảng Trị`, `Phuờng` → `Phường`). House numbers, streets and everything unknown stay as read.
These are public administrative names, not personal data."""

from __future__ import annotations

import re
from functools import cache

from worker.extract.validate import PROVINCE_CODES
from worker.vntext import clean, name_key

_ADMIN_WORDS = (
    "Phường", "Xã", "Huyện", "Quận", "Thị xã", "Thị trấn", "Thành phố", "Tỉnh", "Kiệt", "Hẻm", "Thôn",
    "Khu vực", "Đường", "Ngõ", "Ngách", "Khối", "Tổ dân phố", "Xóm",
)  # fmt: skip
# Huế: districts, towns, wards and communes as printed on cards issued before and after the 2025 reform
_HUE = (
    "Huế", "Thừa Thiên Huế", "Thuận Hóa", "Phú Xuân", "Kim Long", "Vỹ Dạ", "Hương An", "Thủy Xuân", "An Cựu",
    "Thuận An", "Phú Bài", "Hương Thủy", "Hương Trà", "Phú Hội", "Phú Nhuận", "Phường Đúc", "Vĩnh Ninh",
    "Phước Vĩnh", "Trường An", "An Đông", "An Tây", "An Hòa", "Hương Long", "Hương Sơ", "Tây Lộc", "Thuận Lộc",
    "Thuận Thành", "Phú Hậu", "Phú Hiệp", "Phú Cát", "Phú Bình", "Đông Ba", "Gia Hội", "Xuân Phú", "Thủy Biều",
    "Thủy Vân", "Thủy Bằng", "Thủy Dương", "Thủy Phương", "Thủy Châu", "Thủy Lương", "Thủy Tân", "Thủy Thanh",
    "Thủy Phù", "Dương Nỗ", "Hương Vinh", "Hương Hồ", "Hương Phong", "Hương Chữ", "Hương Văn", "Hương Xuân",
    "Hương Toàn", "Hương Vân", "Hương Bình", "Hương Thọ", "Tứ Hạ", "Phú Vang", "Phú Lộc", "Phong Điền",
    "Quảng Điền", "A Lưới", "Nam Đông", "Phú Mậu", "Phú Thanh", "Phú Dương", "Phú Thượng", "Phú An", "Phú Mỹ",
    "Phú Hải", "Phú Thuận", "Phú Diên", "Vinh Thanh", "Vinh Xuân", "Vinh Hà", "Vinh Hiền", "Vinh Hưng",
    "Lăng Cô", "Chân Mây", "Lộc Điền", "Lộc An", "Lộc Sơn", "Phong An", "Phong Hiền", "Phong Thu", "Phong Sơn",
    "Phong Hòa", "Phong Bình", "Phong Chương", "Phong Hải", "Điền Hải", "Quảng Phú", "Quảng Thành", "Quảng An",
    "Quảng Thọ", "Quảng Lợi", "Quảng Ngạn", "Sịa", "Khe Tre", "Hương Giang", "Hương Phú", "Long Hồ", "Bình Điền",
    "Hải Dương", "Đống Đa", "Lê Lợi", "Trần Hưng Đạo", "Hùng Vương", "Điện Biên Phủ", "Nguyễn Huệ",
    "Lê Duẩn", "Trần Phú", "Nguyễn Trãi", "Hai Bà Trưng", "Bà Triệu", "Lý Thường Kiệt", "Phan Đình Phùng",
    "Nguyễn Công Trứ", "Ngô Quyền", "Đội Cung", "Tuệ Tĩnh", "Lê Lai", "Chi Lăng", "Mai Thúc Loan",
    "Nguyễn Sinh Cung", "Phạm Văn Đồng", "Tố Hữu", "Võ Văn Kiệt", "Nguyễn Văn Linh", "Tôn Đức Thắng",
    "Trường Chinh", "Hồ Đắc Di", "An Dương Vương", "Minh Mạng", "Lê Ngô Cát", "Bùi Thị Xuân", "Kim Long",
    "Nguyễn Tri Phương", "Đặng Thái Thân", "Nguyễn Chí Thanh", "Huỳnh Thúc Kháng", "Chế Lan Viên",
    "Hải Lăng", "Triệu Phong", "Gio Linh", "Vĩnh Linh", "Cam Lộ", "Đông Hà", "Quảng Trạch", "Lệ Thủy",
    "Hải Thượng", "Hải Phú", "Triệu Thành",
    # villages (thôn) whose names collide with a ward's or commune's letters: listing them makes the pair
    # ambiguous, so the reading keeps its own diacritics (`Thôn Thủy Phú` is not `Thủy Phù`)
    "Thủy Phú", "Vĩnh Thanh", "Thanh Thủy Chánh",
)  # fmt: skip


@cache
def _table() -> dict[str, str]:
    """Folded key → canonical spelling, longest names first so `Thừa Thiên Huế` beats `Huế`."""
    names = {clean(n) for n in (*_ADMIN_WORDS, *_HUE, *PROVINCE_CODES.values())}
    by_key: dict[str, str] = {}
    for n in names:
        key = name_key(n)
        # two names with the same letters (Phú Hòa / Phù Hòa): no safe choice, leave the reading alone
        by_key[key] = "" if key in by_key and by_key[key] != n else n
    return {k: v for k, v in by_key.items() if v}


def _near(key: str, words: int) -> str | None:
    from rapidfuzz.distance import Levenshtein

    # one edit for a short name, two for a long one: `Tiên Hoàng` is two edits from `Tiền Giang`
    limit = 2 if len(key) >= 14 else 1
    hits = [
        k
        for k in _keys_by_words().get(words, ())
        if abs(len(k) - len(key)) <= limit and Levenshtein.distance(k, key) <= limit
    ]
    return hits[0] if len(hits) == 1 else None


@cache
def _admin_keys() -> frozenset[str]:
    return frozenset(name_key(w) for w in _ADMIN_WORDS)


@cache
def _known_words() -> frozenset[str]:
    return frozenset(w for k in _table() for w in k.split())


@cache
def _keys_by_words() -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    for k in _table():
        if len(k) >= 10:
            out.setdefault(k.count(" ") + 1, []).append(k)
    return {n: tuple(ks) for n, ks in out.items()}


_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)


def correct(address: str) -> str:
    """Respell known place names in an address read by OCR; punctuation, numbers and unknown words kept."""
    table = _table()
    max_words = max(k.count(" ") + 1 for k in table)
    tokens = list(_TOKEN.finditer(address))
    out: list[str] = []
    last = 0
    i = 0
    while i < len(tokens):
        for n in range(min(max_words, len(tokens) - i), 0, -1):
            span = tokens[i : i + n]
            # a name never spans a comma or a dot: `Vang, Thừa` is two places (a stray `-` is OCR noise)
            between = address[span[0].start() : span[-1].end()]
            if n > 1 and re.search(r"[,.;/()]", between):
                continue
            key = name_key(" ".join(t.group(0) for t in span))
            canonical = table.get(key)
            if canonical is not None and key in _admin_keys() and re.search(r"[^\s,]\s*$", address[: span[0].start()]):
                # an administrative word only where one begins a part (`Xã Phú Dương`), never inside a
                # name (`Thôn Văn Xá` must not become `Văn Xã`)
                canonical = None
            if canonical is None and len(key) >= 10 and not all(w in _known_words() for w in key.split()):
                # a garbled word (`Thiêền` for `Thiên`) inside a long name: at most two edits, same word
                # count, and only when some word is not a known one (`Huyện Quảng` must not become
                # `Tuyên Quang`)
                near = _near(key, n)
                canonical = table.get(near) if near else None
            if canonical is not None:
                # keep the reading's capitalisation of the first letter (`xã` inside an address stays lower)
                out.append(address[last : span[0].start()])
                part_start = not re.search(r"[^\s,]\s*$", address[: span[0].start()])
                lower = not span[0].group(0)[0].isupper() and not part_start
                out.append(canonical[0].lower() + canonical[1:] if lower else canonical)
                last = span[-1].end()
                i += n
                break
        else:
            i += 1
    out.append(address[last:])
    return "".join(out)
