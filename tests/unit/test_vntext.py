"""Vietnamese text helpers: normalisation, folding, syllables, addresses, legacy-encoding repair."""

from __future__ import annotations

import random
import unicodedata

import pytest

from fixtures.legacy import encode_tcvn3, encode_vni
from fixtures.people import make_person
from worker import vntext as v


def test_clean_is_nfc_with_one_tone_convention_and_single_spaces() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn  Văn   Hoà ")
    assert v.clean(decomposed) == "Nguyễn Văn Hòa"
    assert v.clean("THUỶ") == "THỦY"
    assert v.clean("khoẻ") == "khỏe"
    # a final consonant keeps the tone where it is; `qu`/`gi` are consonants, not vowels
    assert v.clean("hoàng") == "hoàng"
    assert v.clean("quà") == "quà"
    assert v.clean(None) == ""


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_strip_diacritics_is_the_decomposition_without_its_combining_marks(form: str) -> None:
    # the definition the translate table stands for, on Vietnamese, stray combining marks and other scripts
    rng = random.Random(3)
    alphabet = "aàảãạăắặâầậeèẽêếệìĩịòỏôồơờởùũưừựỳỹđĐÁẠĂẮÂƠỚƯỨ 0,./-" + "\u0300\u0301\u0323\u031b" + "άйñç한ﬁ"
    for _ in range(2000):
        text = unicodedata.normalize(form, "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))))
        decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
        assert v.strip_diacritics(text) == "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def test_fold_matches_strip_diacritics_for_every_vietnamese_letter() -> None:
    letters = "".join(sorted(v.VIETNAMESE_LETTERS))
    assert v.fold(letters) == v.strip_diacritics(letters)
    assert v.fold("Đặng Thị Ửng") == "Dang Thi Ung"


def test_strip_tones_keeps_vowel_shapes() -> None:
    assert v.strip_tones("NGUYỄN") == "NGUYÊN"
    assert v.strip_tones("Hồng Ước") == "Hông Ươc"
    assert v.strip_tones("Đặng") == "Đăng"


def test_name_key_folds_diacritics_confusables_and_case() -> None:
    keys = {v.name_key(n) for n in ("NGUYỄN VĂN HÒA", "Nguyen Van Hoa", "nguyễn  văn hoà", "NGUYÊN VÂN HOA")}
    assert keys == {"NGUYEN VAN HOA"}
    assert v.name_parts("Tôn Nữ Thị Ỷ") == ("TON", "NU THI", "Y")


@pytest.mark.parametrize(
    "word, ok",
    [
        ("Nguyễn", True),
        ("Huỳnh", True),
        ("Khuê", True),
        ("Quỳnh", True),
        ("giữ", True),
        ("Ưng", True),
        ("NGUYÔN", False),
        ("bỡnh", False),
        ("xoong", True),
        ("Voõ", False),
        ("Thò", True),
    ],
)
def test_syllable_structure(word: str, ok: bool) -> None:
    assert v.is_syllable(word) is ok


def test_expand_address_and_commune_key_understand_clerk_abbreviations() -> None:
    assert v.expand_address("15 Đ. Lê Lợi, P. Vĩnh Ninh, TP. Huế") == "15 Đường Lê Lợi, Phường Vĩnh Ninh, Thành phố Huế"
    for address in (
        "15 Lê Lợi, Phường Vĩnh Ninh, Thành phố Huế",
        "15 Đ. Lê Lợi, P. Vĩnh Ninh, TP. Huế, T. Thừa Thiên Huế",
        "15 Lê Lợi, phường Vĩnh Ninh, thành phố Huế, tỉnh Thừa Thiên Huế",
    ):
        assert v.commune_name_key(address) == "VINH NINH"
        assert v.street_part(address) == "15 le loi"
    assert v.commune_name_key("Thôn Lại Thế, X. Phú Thượng, H. Phú Vang") == "PHU THUONG"
    assert v.commune_name_key("TT. Thuận An, H. Phú Vang") == "THUAN AN"
    # the ward whose name contains the unit word
    assert v.commune_name_key("12 Chi Lăng, Phường Đúc, TP. Huế") == "DUC"
    assert v.commune_name_key("12 Chi Lăng, P. Phường Đúc, TP. Huế") == "DUC"
    assert v.street_part("Số 12 Đường Lê Lợi, P. Vĩnh Ninh") == v.street_part("12 Lê Lợi, Phường Vĩnh Ninh")


def _double_utf8(text: str) -> str:
    # UTF-8 bytes read as Windows-1252 (the five undefined bytes as Latin-1), the classic mojibake
    return "".join(
        chr(b) if b < 0x80 or b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252")
        for b in text.encode("utf-8")
    )


def test_repair_encoding_examples_from_the_domain_notes() -> None:
    assert v.repair_encoding("chaøo") == ("chào", "vni")
    assert v.repair_encoding("Hoµng") == ("Hoàng", "tcvn3")
    assert v.repair_encoding("®Æng") == ("đặng", "tcvn3")
    assert v.repair_encoding("NGUYÔN V¡N AN") == ("NGUYỄN VĂN AN", "tcvn3")
    assert v.repair_encoding(_double_utf8("Nguyễn Thị Hồng")) == ("Nguyễn Thị Hồng", "utf8_double")
    assert v.repair_encoding("Phöôøng Vónh Ninh") == ("Phường Vĩnh Ninh", "vni")


def test_repair_encoding_round_trips_generated_names_and_never_touches_valid_text() -> None:
    rng = random.Random(20)
    names = []
    for _ in range(1500):
        p = make_person(rng)
        names += [p.full_name, p.name_title]
    repaired = wrong = damaged = 0
    for name in names:
        if v.repair_encoding(name, is_name=True)[1] is not None:
            damaged += 1
        for encode in (encode_tcvn3, encode_vni, _double_utf8):
            dirty = encode(name)
            if dirty == name:
                continue
            fixed, encoding = v.repair_encoding(dirty, is_name=True)
            repaired += encoding is not None
            wrong += fixed != name
    assert damaged == 0
    # what stays wrong are values whose legacy bytes spell another valid name (VNI `HOÀNG` is also `HỒNG`)
    assert wrong / repaired < 0.01, (wrong, repaired)


def test_clean_repaired_fast_path_agrees_with_the_full_path() -> None:
    values = ["15 Đ. Lê Lợi, P. Vĩnh Ninh, TP. Huế", "Nguyễn Thị Hoà", "NGUYÔN THÞ HåNG", "Vò MINH ANH", "Hoaøng"]
    for value in values * 2:  # the second round runs on the known-token cache
        fixed, encoding = v.repair_encoding(value)
        assert v.clean_repaired(value) == (v.clean(fixed), encoding)
