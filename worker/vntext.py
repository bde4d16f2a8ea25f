"""Vietnamese text normalisation shared by the extract and match stages.

One tone-placement convention everywhere: the "old" style printed on ID cards and certificates
(`Hòa`, `Thủy`, `Khỏe`): in an open syllable ending in oa/oe/uy the tone mark sits on the first vowel.
`Đ/đ` has no Unicode decomposition, so diacritic stripping maps it explicitly."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_TONE_MARKS = {
    "\u0300": "grave",  # huyền
    "\u0301": "acute",  # sắc
    "\u0303": "tilde",  # ngã
    "\u0309": "hook",  # hỏi
    "\u0323": "dot",  # nặng
}
_SPACES = re.compile(r"\s+")
# open syllables whose tone placement differs between conventions: o+a, o+e, u+y, with the tone on the 2nd vowel
_NEW_STYLE = re.compile(r"(?i)(?<![qg])([oOuU])([aAeEyY])([\u0300\u0301\u0303\u0309\u0323])(?![\w\u0300-\u036f])")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# the same syllables in NFC form: a cheap test that lets most text skip the decompose/recompose round trip
_NEW_STYLE_NFC = re.compile(r"[oOuU][àáảãạèéẻẽẹỳýỷỹỵÀÁẢÃẠÈÉẺẼẸỲÝỶỸỴ]")


def normalise_tone_placement(text: str) -> str:
    """`hoà`→`hòa`, `thuỷ`→`thủy`, `khoẻ`→`khỏe`; leaves syllables with a final consonant alone."""
    if unicodedata.is_normalized("NFC", text) and not _NEW_STYLE_NFC.search(text):
        return text
    decomposed = unicodedata.normalize("NFD", text)
    moved = _NEW_STYLE.sub(lambda m: m.group(1) + m.group(3) + m.group(2), decomposed)
    return unicodedata.normalize("NFC", moved)


def clean(text: str | None) -> str:
    """NFC, one tone convention, single spaces, trimmed. The canonical form for stored values."""
    if not text:
        return ""
    if text.isascii():
        return " ".join(text.split())
    return " ".join(normalise_tone_placement(nfc(text)).split())


class _Folding(dict[int, str]):
    """str.translate's table for strip_diacritics, filled per character on first sight: the character's
    canonical decomposition without its combining marks (a combining mark itself folds to nothing)."""

    def __missing__(self, code: int) -> str:
        decomposed = unicodedata.normalize("NFD", chr(code))
        self[code] = folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        return folded


# the readers fold every line they compare (a hundred thousand strings a page): one table lookup per character
_FOLDING = _Folding({ord("Đ"): "D", ord("đ"): "d"})


def strip_diacritics(text: str) -> str:
    """ASCII-fold Vietnamese: every vowel diacritic and tone removed, Đ→D, đ→d."""
    return text.translate(_FOLDING)


def name_key(name: str | None) -> str:
    """Blocking/comparison key for person names: upper case, no diacritics, single spaces.

    Folding diacritics also folds the OCR-confusable pairs ư/u, ơ/o, ă/â/a, ê/e, ô/o, đ/d and all tones."""
    if not name:
        return ""
    return _SPACES.sub(" ", strip_diacritics(nfc(name)).upper()).strip()


_ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    (r"\bTP\.\s*", "Thành phố "),
    (r"\bTx\.\s*", "Thị xã "),
    (r"\bTX\.\s*", "Thị xã "),
    (r"\bTT\.\s*", "Thị trấn "),
    (r"\bP\.\s*", "Phường "),
    (r"\bQ\.\s*", "Quận "),
    (r"\bH\.\s*", "Huyện "),
    (r"\bX\.\s*", "Xã "),
    (r"\bĐ\.\s*", "Đường "),
    (r"\bK\.\s*", "Kiệt "),
    (r"\bTT-Huế\b", "Thừa Thiên Huế"),
    (r"\bTTH\b", "Thừa Thiên Huế"),
)
_ABBREVIATION_PATTERNS = [(re.compile(p), r) for p, r in _ABBREVIATIONS]


def expand_address(address: str | None) -> str:
    """Expand the abbreviations clerks use (`P.`, `TP.`, `Q.`, `TT.`, `X.`, `Đ.`) into full words."""
    text = clean(address)
    for pattern, replacement in _ABBREVIATION_PATTERNS:
        text = pattern.sub(replacement, text)
    return _SPACES.sub(" ", text).strip()


def address_key(address: str | None) -> str:
    """Comparison key for addresses: expanded, diacritics folded, punctuation dropped, lower case."""
    text = strip_diacritics(expand_address(address)).lower()
    text = re.sub(r"[^\w\s/]", " ", text)
    return _SPACES.sub(" ", text).strip()


# --- letters, tones and syllables -------------------------------------------------------------------

_TONE_CHARS = "".join(_TONE_MARKS)
_BASE_VOWELS = "aăâeêioôơuưy"
_TONED_VOWELS = "".join(unicodedata.normalize("NFC", v + t) for v in _BASE_VOWELS for t in _TONE_CHARS)
VIETNAMESE_LOWER = frozenset("abcdefghijklmnopqrstuvwxyzđ" + _BASE_VOWELS + _TONED_VOWELS)
VIETNAMESE_LETTERS = frozenset(VIETNAMESE_LOWER | {c.upper() for c in VIETNAMESE_LOWER})

# Precomposed letter -> ASCII base letter: str.translate is ~10x faster than NFD + filtering, which
# matters when a 1.2M-row registry is keyed on import.
_FOLD = str.maketrans(
    {c: strip_diacritics(c) for c in VIETNAMESE_LETTERS if not c.isascii()}
    | {"\u0300": None, "\u0301": None, "\u0303": None, "\u0309": None, "\u0323": None}
    | {"\u0302": None, "\u0306": None, "\u031b": None}
)
_TONE_STRIP = {ord(t): None for t in _TONE_CHARS}


def fold(text: str | None) -> str:
    """Fast diacritic fold of NFC text (same result as strip_diacritics for Vietnamese letters)."""
    return text.translate(_FOLD) if text else ""


def strip_tones(text: str | None) -> str:
    """Remove the five tone marks but keep the vowel letters ă â ê ô ơ ư and đ: `NGUYỄN`→`NGUYÊN`.

    Tesseract's fast `vie` model loses tone marks far more often than vowel shapes, so a name equal
    up to tones is stronger evidence than one equal only after a full fold."""
    if not text:
        return ""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).translate(_TONE_STRIP))


def name_parts(name: str | None) -> tuple[str, str, str]:
    """(surname key, middle key, given key) in name_key form; a two-word name has an empty middle."""
    tokens = name_key(name).split()
    if not tokens:
        return "", "", ""
    if len(tokens) == 1:
        return "", "", tokens[0]
    return tokens[0], " ".join(tokens[1:-1]), tokens[-1]


_ONSETS = "ngh|ng|gh|gi|kh|nh|ph|qu|th|tr|ch|[bcdđghklmnpqrstvx]"
_NUCLEI = sorted(
    [
        "a",
        "ă",
        "â",
        "e",
        "ê",
        "i",
        "o",
        "ô",
        "ơ",
        "u",
        "ư",
        "y",
        "ai",
        "ao",
        "au",
        "ay",
        "âu",
        "ây",
        "eo",
        "êu",
        "ia",
        "iê",
        "iu",
        "oa",
        "oă",
        "oe",
        "oi",
        "ôi",
        "ơi",
        "oo",
        "ua",
        "uâ",
        "uê",
        "ui",
        "uô",
        "uơ",
        "uy",
        "ưa",
        "ưi",
        "ươ",
        "ưu",
        "yê",
        "iêu",
        "oai",
        "oay",
        "oao",
        "oeo",
        "uây",
        "uôi",
        "uya",
        "uyê",
        "uyu",
        "ươi",
        "ươu",
        "yêu",
    ],
    key=len,
    reverse=True,
)
# -ch/-nh only follow a, ê, i, y (`anh`, `ếch`, `inh`, `uỳnh`), never ơ or u (`bỡnh` is mis-decoded text);
# -oo- only before -ng/-c (`xoong`, `moóc`), so VNI `Voõ` is not taken for a word
_SYLLABLE = re.compile(
    rf"^(?:{_ONSETS})?(?:(?:{'|'.join(n for n in _NUCLEI if n[-1] in 'aêiy')})(?:ch|nh)"
    rf"|oo(?:ng|c)|(?:{'|'.join(n for n in _NUCLEI if n != 'oo')})(?:ng|[cmnpt])?)$"
)


@lru_cache(maxsize=65536)
def is_syllable(word: str) -> bool:
    """Is `word` a well-formed Vietnamese syllable (letters, at most one tone, a valid onset/rhyme)?"""
    decomposed = unicodedata.normalize("NFD", word.lower())
    if sum(1 for ch in decomposed if ch in _TONE_MARKS) > 1:
        return False
    return bool(_SYLLABLE.match(strip_tones(word.lower())))


# --- legacy encodings --------------------------------------------------------------------------------
# Registries built in the 1990s-2000s hold text typed in 8-bit font encodings. Exported as Latin-1/cp1252
# and re-read as Unicode, the text turns into look-alike Latin-1 soup: TCVN3 `Hoµng` (Hoàng),
# VNI `Hoaøng`, and UTF-8 decoded twice `HoÃ\xa0ng`. Each decoder below is tried only when a value holds
# characters that never occur in Vietnamese, and kept only when it turns the value into valid syllables.

# TCVN3 (ABC, TCVN 5712:1993 VN3): one byte per letter; upper-case toned letters use the lower-case codes
# in an upper-case font, so case is restored from the surrounding word.
_TCVN3_CODES: dict[str, int] = {
    "ă": 0xA8, "â": 0xA9, "ê": 0xAA, "ô": 0xAB, "ơ": 0xAC, "ư": 0xAD, "đ": 0xAE,
    "Ă": 0xA1, "Â": 0xA2, "Ê": 0xA3, "Ô": 0xA4, "Ơ": 0xA5, "Ư": 0xA6, "Đ": 0xA7,
    "à": 0xB5, "ả": 0xB6, "ã": 0xB7, "á": 0xB8, "ạ": 0xB9,
    "ằ": 0xBB, "ẳ": 0xBC, "ẵ": 0xBD, "ắ": 0xBE, "ặ": 0xC6,
    "ầ": 0xC7, "ẩ": 0xC8, "ẫ": 0xC9, "ấ": 0xCA, "ậ": 0xCB,
    "è": 0xCC, "ẻ": 0xCE, "ẽ": 0xCF, "é": 0xD0, "ẹ": 0xD1,
    "ề": 0xD2, "ể": 0xD3, "ễ": 0xD4, "ế": 0xD5, "ệ": 0xD6,
    "ì": 0xD7, "ỉ": 0xD8, "ĩ": 0xDC, "í": 0xDD, "ị": 0xDE,
    "ò": 0xDF, "ỏ": 0xE1, "õ": 0xE2, "ó": 0xE3, "ọ": 0xE4,
    "ồ": 0xE5, "ổ": 0xE6, "ỗ": 0xE7, "ố": 0xE8, "ộ": 0xE9,
    "ờ": 0xEA, "ở": 0xEB, "ỡ": 0xEC, "ớ": 0xED, "ợ": 0xEE,
    "ù": 0xEF, "ủ": 0xF1, "ũ": 0xF2, "ú": 0xF3, "ụ": 0xF4,
    "ừ": 0xF5, "ử": 0xF6, "ữ": 0xF7, "ứ": 0xF8, "ự": 0xF9,
    "ỳ": 0xFA, "ỷ": 0xFB, "ỹ": 0xFC, "ý": 0xFD, "ỵ": 0xFE,
}  # fmt: skip
_TCVN3_DECODE = str.maketrans({chr(code): letter for letter, code in _TCVN3_CODES.items()})
_TCVN3_ENCODE = str.maketrans({letter: chr(code) for letter, code in _TCVN3_CODES.items()})

# VNI-Windows: a base letter followed by a modifier byte. Modifiers for a/e/o/u/y and their upper case.
_VNI_TONES = {"ù": "\u0301", "ø": "\u0300", "û": "\u0309", "õ": "\u0303", "ï": "\u0323"}
_VNI_HAT_TONES = {"á": "\u0301", "à": "\u0300", "å": "\u0309", "ã": "\u0303", "ä": "\u0323"}  # â ê ô + tone
_VNI_BREVE_TONES = {"é": "\u0301", "è": "\u0300", "ú": "\u0309", "ü": "\u0303", "ë": "\u0323"}  # ă + tone
_VNI_SINGLE = {"ô": "ơ", "ö": "ư", "ñ": "đ", "í": "í", "ì": "ì", "æ": "ỉ", "ó": "ĩ", "ò": "ị"}


def _vni_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for base in "aeouy":
        for mod, tone in _VNI_TONES.items():
            table[base + mod] = base + tone
        if base in "aeo":
            table[base + "â"] = base + "\u0302"
            for mod, tone in _VNI_HAT_TONES.items():
                table[base + mod] = base + "\u0302" + tone
    table["aê"] = "a\u0306"
    for mod, tone in _VNI_BREVE_TONES.items():
        table["a" + mod] = "a\u0306" + tone
    for single, letter in (("ô", "o\u031b"), ("ö", "u\u031b")):  # ơ, ư then a tone byte
        for mod, tone in _VNI_TONES.items():
            table[single + mod] = letter + tone
    upper = {k.upper(): v.upper() for k, v in table.items()}
    out = {k: unicodedata.normalize("NFC", v) for k, v in (table | upper).items()}
    return out


_VNI_PAIRS = _vni_table()
_VNI_SINGLES = _VNI_SINGLE | {k.upper(): v.upper() for k, v in _VNI_SINGLE.items()}
_VNI_ALL = _VNI_SINGLES | _VNI_PAIRS
# one pass, longest sequence first: `oâ` must become ô and stay ô (a lone `ô` byte means ơ)
_VNI_PATTERN = re.compile("|".join(sorted(map(re.escape, _VNI_ALL), key=len, reverse=True)))
_VNI_ENCODE_PAIRS = {v: k for k, v in _VNI_PAIRS.items()}

# Characters that never occur in Vietnamese text but do in mis-decoded legacy text.
_SUSPICIOUS = re.compile(
    "["
    + "".join(
        re.escape(chr(c))
        for c in [*range(0x80, 0x250), *range(0x2B0, 0x300), *range(0x2000, 0x2070), 0x2122]
        if chr(c) not in VIETNAMESE_LETTERS and not chr(c).isspace()
    )
    + "]"
)
# cp1252's printable 0x80-0x9F area, for undoing UTF-8 that was decoded as Windows-1252
_CP1252_REVERSE = {bytes([b]).decode("cp1252"): b for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
# split on plain spaces only: a stray NBSP or symbol must stay inside its word and make it invalid
_SEPARATORS = ",;:.()/-0123456789"


def looks_misencoded(text: str | None) -> bool:
    """Cheap pre-check: does the value hold a character that real Vietnamese text never has?"""
    return bool(text) and _SUSPICIOUS.search(text) is not None  # type: ignore[arg-type]


@lru_cache(maxsize=65536)
def _word_ok(word: str) -> bool:
    if not all(ch in VIETNAMESE_LETTERS for ch in word):
        return False
    # `TrÝ`, `DòNG`: case flipping inside a word is what a mis-decoded byte looks like
    if any(ch.isupper() for ch in word[1:]) and not word.isupper():
        return False
    return is_syllable(word)


# Syllables common in Vietnamese personal names (surnames, middle and given names). Only used to break ties
# between decoders that both yield valid syllables: VNI and TCVN3 read `Vò` as `Vị` and `Vũ`.
_COMMON_NAME_TEXT = """nguyễn trần lê phạm hoàng huỳnh phan vũ võ đặng bùi đỗ hồ ngô dương lý trương đinh lâm mai cao lương hà
    thái tôn thất nữ phúc lữ châu ông mạc đoàn trịnh đào tạ lưu kiều văn thị đức hữu minh quang thanh xuân
    đình công ngọc đăng trọng hồng kim thu an anh bảo bình cường dũng duy đạt giang hải hiếu hùng huy khánh
    khoa kiên long lộc nam nghĩa nhân phong quân sơn tài tâm thắng thành thịnh toàn trí trung tuấn tùng việt
    vinh hậu thuận lập lợi hợp đồng khiêm hòa thủy ý ánh bích chi diễm dung duyên hạnh hằng hiền hoa hương
    huyền lan liên linh loan my nga ngân nhung oanh phương quyên quỳnh thảo thơ trang trâm tuyết uyên vân yến
    nguyệt khuê huệ sương cúc mỹ lệ trinh tịnh vỹ ưng tiến tín tú tường vĩnh vương thông thiện thư tiên tình
    hạ hiệp hoài hưng khang khải lực mạnh nhật phát phú quý quốc sang sinh tân thanh thái thiên thọ triều"""
COMMON_NAME_SYLLABLES = frozenset(_COMMON_NAME_TEXT.split())


def _word_case_ok(word: str, all_caps_value: bool) -> bool:
    # in an upper-case value a lower-case non-ASCII letter is a decoding artefact (`Vò MINH ANH`)
    return not (all_caps_value and any(c.islower() for c in word))


_ASCII_LETTERS = re.compile(r"[A-Za-z]")
_ASCII_UPPER = re.compile(r"[A-Z]")


def _all_caps(text: str) -> bool:
    letters = "".join(_ASCII_LETTERS.findall(text))
    return len(letters) >= 2 and letters.isupper()


def _plausibility(text: str) -> float:
    """Share of non-ASCII words that are valid Vietnamese syllables (1.0 when there are none)."""
    # one-letter words are abbreviations (`Đ.` for Đường), not syllables
    words = [w for w in (w.strip(_SEPARATORS) for w in text.split(" ") if not w.isascii()) if len(w) > 1]
    if not words:
        return 1.0
    caps = _all_caps(text)
    return sum(1 for w in words if _word_ok(w) and _word_case_ok(w, caps)) / len(words)


@lru_cache(maxsize=65536)
def _suspect_word(word: str) -> bool:
    """A valid but unusual name syllable that a legacy decoder turns into a usual one (VNI `Thò` → `Thị`)."""
    low = normalise_tone_placement(word.lower())
    if low in COMMON_NAME_SYLLABLES:
        return False
    return any(normalise_tone_placement(decode(word).lower()) in COMMON_NAME_SYLLABLES for decode in DECODERS.values())


def _name_likeness(text: str) -> float:
    words = normalise_tone_placement(text.lower()).split()
    return sum(1 for w in words if w in COMMON_NAME_SYLLABLES) / len(words) if words else 0.0


# Space-separated tokens already seen to be valid Vietnamese (letters of the alphabet, one syllable): the
# vocabulary is small, so after a few thousand values almost every check is one C-level set difference.
_KNOWN_TOKENS: set[str] = {""}


def _all_words_known(text: str) -> bool:
    if not text.isupper() and text.encode("ascii", "ignore").isupper():
        return False  # lower-case letters in an upper-case value: let the full check look at it
    tokens = text.split(" ")
    if _KNOWN_TOKENS.issuperset(tokens):
        return True
    for token in tokens:
        if token in _KNOWN_TOKENS:
            continue
        if token.isascii():
            if len(_KNOWN_TOKENS) < 200_000:
                _KNOWN_TOKENS.add(token)
            continue
        word = token.strip(_SEPARATORS)
        if (len(word) > 1 and not _word_ok(word)) or (len(word) == 1 and word not in VIETNAMESE_LETTERS):
            return False
        if len(_KNOWN_TOKENS) < 200_000:
            _KNOWN_TOKENS.add(token)
    return True


def clean_repaired(
    text: str | None, prefer: str | None = None, assume: bool = False, *, is_name: bool = False
) -> tuple[str, str | None]:
    """repair_encoding then clean, with a fast path for the usual case (valid NFC text of known words):
    this is the per-value cost of a 1.2-million-row registry import."""
    if not text:
        return "", None
    if text.isascii():
        return " ".join(text.split()), None
    if (
        not (prefer and assume)
        # split on plain spaces only, as _all_words_known does: an NBSP inside `HoÃ\xa0ng` must stay in its token
        and _KNOWN_TOKENS.issuperset(text.split(" "))
        and (text.isupper() or not text.encode("ascii", "ignore").isupper())
        and unicodedata.is_normalized("NFC", text)
        and not _NEW_STYLE_NFC.search(text)
        and not (is_name and any(map(_suspect_word, text.split())))
    ):
        return " ".join(text.split()), None
    fixed, encoding = repair_encoding(text, prefer=prefer, assume=assume, is_name=is_name)
    return clean(fixed), encoding


def _upper(text: str) -> str:
    return "".join(ch.upper() if ch in VIETNAMESE_LETTERS else ch for ch in text)


def _restore_case(decoded: str, original: str) -> str:
    """Legacy upper-case fonts reuse the lower-case codes (TCVN3 has no upper-case toned letters at all), so
    case is rebuilt: a value whose ASCII letters are all upper case is upper case (`NGUYÔN KIM Hµ` →
    `NGUYỄN KIM HÀ`), a word with an upper-case letter after its first is (`NGUYÔN`), and a title-case value
    capitalises the words a decoded letter starts (`èc` → `Ốc`)."""
    if _all_caps(original):
        return _upper(decoded)
    words = decoded.split(" ")
    originals = original.split(" ")
    if len(words) != len(originals):
        return decoded
    words = [_upper(w) if _ASCII_UPPER.search(w, 1) else w for w in words]
    initials = [w[0] for w in words if w and w[0].isalpha()]
    if initials and sum(c.isupper() for c in initials) * 2 > len(initials):
        words = [
            _upper(w[0]) + w[1:] if w and w[0].islower() and not o[0].isascii() else w
            for w, o in zip(words, originals, strict=True)
        ]
    return " ".join(words)


def decode_tcvn3(text: str) -> str:
    text = nfc(text)
    return _restore_case(text.translate(_TCVN3_DECODE), text)


def encode_tcvn3(text: str) -> str:
    """Unicode → TCVN3 as seen through Latin-1 (for tests and synthetic dirty registries)."""
    out = []
    for ch in nfc(text):
        code = None if ch.isascii() else _TCVN3_CODES.get(ch) or _TCVN3_CODES.get(ch.lower())
        out.append(chr(code) if code else ch)
    return "".join(out)


def decode_vni(text: str) -> str:
    text = nfc(text)
    decoded = _VNI_PATTERN.sub(lambda m: _VNI_ALL[m.group(0)], text)
    return _restore_case(decoded, decoded)


def encode_vni(text: str) -> str:
    """Unicode → VNI-Windows as seen through Latin-1 (for tests and synthetic dirty registries)."""
    singles = {v: k for k, v in _VNI_SINGLES.items() if k.lower() in "ôöñæóò" or v in "íìÍÌ"}
    out = []
    for ch in nfc(text):
        if ch in _VNI_ENCODE_PAIRS:
            out.append(_VNI_ENCODE_PAIRS[ch])
        elif ch in singles:
            out.append(singles[ch])
        elif ch in "âêôÂÊÔ":
            out.append(strip_diacritics(ch) + ("â" if ch.islower() else "Â"))
        elif ch in "ăĂ":
            out.append("aê" if ch == "ă" else "AÊ")
        else:
            out.append(ch)
    return "".join(out)


def decode_double_utf8(text: str) -> str:
    """Undo UTF-8 bytes that were decoded as cp1252/Latin-1 (once or twice)."""
    current = text
    for _ in range(2):
        raw = bytearray()
        for ch in current:
            if ch in _CP1252_REVERSE:
                raw.append(_CP1252_REVERSE[ch])
            elif ord(ch) < 0x100:
                raw.append(ord(ch))
            else:
                return current
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            return current
        if decoded == current:
            return current
        current = decoded
        if not looks_misencoded(current):
            break
    return current


DECODERS = {"utf8_double": decode_double_utf8, "vni": decode_vni, "tcvn3": decode_tcvn3}


def repair_encoding(
    text: str | None, prefer: str | None = None, assume: bool = False, *, is_name: bool = False
) -> tuple[str, str | None]:
    """Detect and repair a legacy Vietnamese encoding. Returns (text, encoding name, or None if unchanged).

    Conservative: a value is only rewritten when it holds something Vietnamese never has (a foreign
    character, an impossible syllable, case flipping inside a word) and a decoder turns it into valid
    syllables, so a correct value is never damaged. `prefer` (the encoding the rest of the file or row
    turned out to use) breaks ties; with `assume`, a value that already looks valid is decoded with
    `prefer` too when the result is equally valid (`Dòng` is TCVN3 for `Dũng`, but also a word by itself).
    With `is_name`, a person's name whose every syllable is valid but not all usual in names (VNI `Phan Thò
    Anh`) is decoded when a decoder turns it into only usual name syllables (`Phan Thị Anh`)."""
    if not text or text.isascii():
        return text or "", None
    if is_name and not (prefer and assume) and _all_words_known(text) and any(map(_suspect_word, text.split())):
        for name in sorted(DECODERS, key=lambda n: n != prefer):
            candidate = nfc(DECODERS[name](text))
            if candidate != text and _plausibility(candidate) == 1.0 and _name_likeness(candidate) == 1.0:
                return candidate, name
        return text, None
    if not (prefer and assume) and _all_words_known(text):
        return text, None
    baseline = _plausibility(text)
    suspicious = looks_misencoded(text)
    if baseline == 1.0 and not suspicious and not (assume and prefer):
        return text, None
    # a value assumed to share its row's encoding only needs that decoder: had it looked wrong by itself,
    # the first pass would have tried them all
    order = [prefer] if assume and prefer in DECODERS else sorted(DECODERS, key=lambda name: name != prefer)
    best: tuple[float, str, str | None] = (baseline, text, None)
    for name in order:
        try:
            candidate = nfc(DECODERS[name](text))
        except Exception:  # a decoder must never break an import
            continue
        if candidate == text or looks_misencoded(candidate):
            continue
        # validity first; among equally valid decodings the one that reads more like a name
        score = _plausibility(candidate) + 0.01 * _name_likeness(candidate)
        forced = assume and name == prefer and score >= baseline
        if score > best[0] or (forced and best[2] is None):
            best = (score, candidate, name)
    if best[2] is None or best[0] < 0.75:
        return text, None
    return best[1], best[2]


# --- addresses ----------------------------------------------------------------------------------------

_COMMUNE_PREFIXES = ("phuong ", "thi tran ", "xa ", "p. ", "p.", "tt. ", "tt.", "tt ", "x. ", "x.")
_NON_KEY = re.compile(r"[^a-z0-9 ]+")


def commune_name_key(address: str | None) -> str | None:
    """The ward/commune/town name in an address, as a folded key (`Phường Vĩnh Ninh, TP. Huế` → `VINH NINH`).

    `Phường Đúc` is a ward whose name includes the word, so it yields `DUC` however it is written."""
    if not address:
        return None
    for part in fold(nfc(address)).lower().split(","):
        part = part.strip()
        for prefix in _COMMUNE_PREFIXES:
            if part.startswith(prefix):
                name = " ".join(_NON_KEY.sub(" ", part[len(prefix) :]).split())
                if name.startswith("phuong "):  # `P. Phường Đúc`
                    name = name[7:]
                return name.upper() or None
    return None


def street_part(address: str | None) -> str:
    """The part of an address before the ward/commune: house number, alley, street or village (folded)."""
    text = strip_diacritics(expand_address(address)).lower()
    kept = []
    for part in (p.strip() for p in text.split(",")):
        if re.match(r"^(phuong|xa|thi tran|thi xa|quan|huyen|thanh pho|tinh|thua thien hue|hue)\b", part):
            break
        kept.append(re.sub(r"[^\w\s/]", " ", part))
    # `Số 12 Đường Lê Lợi` and `12 Lê Lợi` are the same place: drop the filler words
    return " ".join(w for w in " ".join(kept).split() if w not in _STREET_FILLERS)


_STREET_FILLERS = frozenset({"so", "duong", "nha", "pho"})
