"""The parcel entries snapped to the legal wording (worker/extract/gcn/phrases.py): only where every word
agrees, so `có`/`không` and one transfer against another are never swapped, and a word's diacritics come
from the legal text. Pages rendered by the committed generator, read on what real
Tesseract returned for them (tests/plugins/recordings/test_gcn_phrases.json, `--record-ocr`)."""

from __future__ import annotations

import random
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image

import fixtures.gcn as fgcn
import fixtures.gcn_pages as fgcn_pages
from fixtures import geo
from models.elements import Line, TextPage, Word
from models.pages import NormalisedPage
from worker import lexicons
from worker.extract import places
from worker.extract.gcn import extract_gcn
from worker.extract.gcn.address import _gazetteer, address_spelled_known
from worker.extract.gcn.patterns import P2_PATTERNS
from worker.extract.gcn.phrases import canonical_entry, snap_purpose
from worker.extract.gcn.text import PageText, label_values, text_value
from worker.ocr import Reader
from worker.vntext import name_key


def _page(img: Image.Image) -> NormalisedPage:
    bgr = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return NormalisedPage(source="t.png", page=1, sha256="0", kind="page", image=bgr, ocr_image=grey)


@pytest.mark.parametrize(
    ("read", "meaning"),
    [
        ("Nhà nước giao đất không thu tiên sử dụng đất", "Nhà nước giao đất không thu tiền sử dụng đất"),
        ("Nhà nước giao đất co thu tiền sử dụng đất", "Nhà nước giao đất có thu tiền sử dụng đất"),
        ("Nhận tăng cho đất được Nhà nước giao đất", "Nhận tặng cho đất được Nhà nước giao đất"),
        ("Nhân thừa kế", "Nhận thừa kế"),
        (
            # `Xhẩn`: one letter from `nhận`, one from the term's `hạn`, which is no word of an origin
            "Xhẩn thừa ke đát được Công nhân ()SD như giáo đất có thú tiến sự dụng đất",
            "Nhận thừa kế đất được Công nhận QSDĐ như giao đất có thu tiền sử dụng đất",
        ),
        ("Lâu dai", "Lâu dài"),
        ("Lắấu đài", "Lâu dài"),  # two marks stacked on one vowel read as two vowels
    ],
)
def test_an_entry_takes_the_legal_spelling_of_its_own_words(read: str, meaning: str) -> None:
    name = "land_use_term" if meaning == "Lâu dài" else "land_use_origin"
    assert canonical_entry(name, read) == (meaning, True)


@pytest.mark.parametrize(
    "read",
    [
        "Nhà nước giao đất thu tiền sử dụng đất",  # `có`/`không` lost: no legal entry says this
        "Nhà nước giao đất kh0ng thu tiền sử dụng đất",  # a word no legal entry has
        "Nhận tằng chu đất",
    ],
)
def test_an_entry_with_a_word_lost_or_unknown_stays_as_read_and_not_valid(read: str) -> None:
    assert canonical_entry("land_use_origin", read) == (read, False)


@pytest.mark.parametrize(
    ("name", "read"),
    [
        # `bench gcn --world --n 120 --seed 1023`: entries whose last words were lost at the line's end, every
        # word left legal wording, given at 0.96 and 0.995
        ("land_use_form", "Sử dụng"),
        ("land_use_origin", "Nhận chuyển nhượng đất được Công nhận QSDĐ như giao đất có thu tiền sử dụng"),
        ("land_use_origin", "Nhà nước cho thuê đất thu tiền thuê đất"),
    ],
)
def test_an_entry_cut_short_inside_a_legal_phrase_is_not_valid(name: str, read: str) -> None:
    assert canonical_entry(name, read) == (read, False)
    whole = {"Sử dụng": "Sử dụng riêng"}.get(read, read + (" đất" if read.endswith("sử dụng") else " hàng năm"))
    assert canonical_entry(name, whole) == (whole, True)


def test_the_one_undated_term_snaps_with_two_letters_garbled() -> None:
    assert canonical_entry("land_use_term", "Lâw đaí") == ("Lâu dài", True)
    assert canonical_entry("land_use_origin", "Lâw đaí") == ("Lâw đaí", False)


def test_a_purpose_snaps_only_to_the_land_type_with_the_same_words() -> None:
    assert snap_purpose("Đất ở tại đô thi")[:2] == ("ODT", "Đất ở tại đô thị")
    assert snap_purpose("Đất ờ tại nông thon")[:2] == ("ONT", "Đất ở tại nông thôn")
    assert snap_purpose("Đất ở tại đê thị")[:2] == ("ODT", "Đất ở tại đô thị")  # one letter of a short word
    assert snap_purpose("Đất trồng cây hằng năm khác")[1] == "Đất trồng cây hằng năm khác"  # both spellings legal
    code, legal, snapped = snap_purpose("Đất ở tại thị trấn")  # no such land type
    assert (code, snapped) == (None, False) and legal == "Đất ở tại thị trấn"


@pytest.mark.parametrize(
    ("origin", "wrong"),
    [
        ("Nhà nước giao đất không thu tiền sử dụng đất", "có thu tiền"),
        ("Nhận tặng cho đất được Nhà nước giao đất có thu tiền sử dụng đất", "thừa kế"),
        ("Nhận thừa kế đất được Công nhận QSDĐ như giao đất có thu tiền sử dụng đất", "chuyển nhượng"),
    ],
)
def test_a_rendered_origin_is_never_snapped_to_another_meaning(
    origin: str, wrong: str, recorded_reader: Reader
) -> None:
    parcel = fgcn.make_parcel(random.Random(5), form="gcn_2009")
    parcel = replace(parcel, land_use_origin=origin)
    img, _ = fgcn_pages.render_gcn_page(parcel, "gcn_2009", 2, random.Random(1), dpi=200)
    doc = extract_gcn(_page(img), reader=recorded_reader)
    got = doc.fields["land_use_origin"]
    assert wrong not in got.value
    if got.confidence >= 0.9:
        assert name_key(got.value) == name_key(origin), got.value


def test_readers_street_and_place_lists_are_not_the_generators() -> None:
    """The readers know a street or village the generator draws only where an official list has it."""
    official = {name_key(n) for n in (*lexicons.streets(), *lexicons.place_names())}
    known = {*_gazetteer(), *places._table()}
    generator = {name_key(s) for s in geo.STREETS} | {name_key(v.split(" ", 1)[1]) for v in geo.VILLAGES}
    assert not generator <= known
    assert (generator & known) <= official, sorted(generator & known - official)


def test_the_legal_wording_drops_specks_between_its_words() -> None:
    read = "Nhận thừa kế đất được Công nhận (QSDĐ như giao đất có thu tiền sử dụng, đất."
    assert canonical_entry("land_use_origin", read) == (
        "Nhận thừa kế đất được Công nhận QSDĐ như giao đất có thu tiền sử dụng đất",
        True,
    )


def test_an_address_whose_street_no_official_list_spells_is_not_certain(recorded_reader: Reader) -> None:
    assert address_spelled_known("12 Kiệt 310 Võ Văn Kiệt, phường Phú Hội, thành phố Huế, tỉnh Thừa Thiên Huế")
    assert address_spelled_known("Tổ 3, phường Vĩnh Ninh, thành phố Huế")
    # a street after a person (its tone marks cannot be checked), a village, a ward misspelled
    assert not address_spelled_known("289/50 Hàn Mặc Từ, phường Phú Hội, thành phố Huế")
    assert not address_spelled_known("Thôn Liêu Cốc, xã Hương Toàn, thị xã Hương Trà")
    assert not address_spelled_known("12 Võ Văn Kiệt, phường Phu Hôi, thành phố Huế")
    parcel = fgcn.make_parcel(random.Random(9), form="gcn_2009")
    img, truth = fgcn_pages.render_gcn_page(parcel, "gcn_2009", 2, random.Random(1), dpi=200)
    doc = extract_gcn(_page(img), reader=recorded_reader)
    if not address_spelled_known(truth["fields"]["parcel_address"]):
        assert doc.fields["parcel_address"].confidence < 0.9


def test_the_house_sections_first_item_ends_the_origin_before_it() -> None:
    text = "g) Nguồn gốc sử dụng: Nhà nước giao đất có thu tiền sử dụng đất a) Loại nhà ở: Căn hộ chung cư\n"
    words = [Word(text=w, confidence=0.95, box=(10 + 60 * i, 10, 50, 30)) for i, w in enumerate(text.split())]
    t = PageText.of(TextPage.of_lines([Line.of(words)]))
    origin = label_values(t, P2_PATTERNS)["land_use_origin"]
    assert text_value(origin) == "Nhà nước giao đất có thu tiền sử dụng đất"


def test_a_parcel_numbered_by_its_building_is_read_as_printed(recorded_reader: Reader) -> None:
    """An apartment's certificate numbers the parcel by its block (letters and digits), not a dropped value."""
    parcel = replace(fgcn.make_parcel(random.Random(12), form="gcn_2009"), parcel_number="CT8")  # type: ignore[arg-type]
    img, _ = fgcn_pages.render_gcn_page(parcel, "gcn_2009", 2, random.Random(1), dpi=200)
    doc = extract_gcn(_page(img), reader=recorded_reader)
    assert doc.value("parcel_number") == "CT8"


def test_an_implausible_sheet_number_is_not_reported_as_certain(recorded_reader: Reader) -> None:
    """Digits run together (a sheet `12` and a speck read `1247`): more sheets than a commune's map has."""
    parcel = replace(fgcn.make_parcel(random.Random(14), form="gcn_2009"), map_sheet_number=4712)
    img, _ = fgcn_pages.render_gcn_page(parcel, "gcn_2009", 2, random.Random(1), dpi=200)
    doc = extract_gcn(_page(img), reader=recorded_reader)
    assert doc.value("map_sheet_number") == 4712
    assert doc.fields["map_sheet_number"].confidence < 0.9
