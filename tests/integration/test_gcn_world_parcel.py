"""The parcel section of world renders (bench gcn --world): the older form's table, whose header row prints
the labels side by side and the values in the cells below (worker/extract/gcn/table.py). Pages rendered by
the generator (fixtures/certs) and captured, read end to end on what real Tesseract returned for them
(tests/plugins/recordings/test_gcn_world_parcel.json, `--record-ocr`)."""

from __future__ import annotations

import pytest
from gcn_world_renders import read_world_page

from models.elements import Line, TextPage, Word
from worker.extract.gcn.patterns import P2_PATTERNS
from worker.extract.gcn.table import find_table
from worker.extract.gcn.text import PageText, label_values
from worker.ocr import Reader

KEYS = ("parcel_number", "map_sheet_number", "area_m2")


@pytest.mark.parametrize(
    ("cert_no", "profile"),
    [
        (0, "clean"),  # header `... Diện tích (m²) ...` once read as an area of 2 m², the numbers not at all
        (18, "clean"),
        (15, "photocopy"),  # speckle: the layout pass lost the row's two numbers, read from their cells
    ],
)
def test_the_parcel_table_is_read_by_column(cert_no: int, profile: str, recorded_reader: Reader) -> None:
    truth, doc = read_world_page(cert_no, "gcn_pre2009", 2, profile, recorded_reader)
    assert truth["layout"] == "1993"
    for name in KEYS:
        got = doc.fields.get(name)
        assert got is not None and got.value == truth["fields"][name], (name, got)
        assert got.confidence >= 0.9, (name, got)
    assert not any(w.startswith("area_words_mismatch") for w in doc.warnings), doc.warnings
    assert doc.fields["land_use_term"].value == truth["fields"]["land_use_term"]


def _text(*rows: list[tuple[str, int]]) -> PageText:
    """Lines of words at given x positions, 40 px apart vertically."""
    lines = [
        Line.of([Word(text=w, confidence=0.95, box=(x, 10 + 40 * i, 12 * len(w), 30)) for w, x in row])
        for i, row in enumerate(rows)
    ]
    return PageText.of(TextPage.of_lines(lines))


def test_a_labelled_line_is_no_table_header() -> None:
    """The 2009 form prints both numbers on one line after their labels: nothing to read by column, and the
    next line's house number never becomes the parcel number."""
    t = _text(
        [("a)", 60), ("Thửa", 90), ("đất", 150), ("số:", 200), ("232,", 250), ("tờ", 320), ("bản", 350),
         ("đồ", 400), ("số:", 430), ("8;", 480)],
        [("b)", 60), ("Địa", 90), ("chỉ:", 140), ("92/35", 200), ("Đống", 280), ("Đa", 350)],
    )  # fmt: skip
    assert find_table(t) is None


def test_a_header_row_gives_each_label_its_column() -> None:
    t = _text(
        [("Thửa", 100), ("đất", 160), ("số", 210), ("Tờ", 400), ("bản", 440), ("đồ", 490), ("số", 530),
         ("Diện", 700), ("tích", 760), ("(m2)", 820), ("Mục", 1000), ("đích", 1060), ("sử", 1120), ("dụng", 1160)],
        [("49", 150), ("60", 460), ("108,3", 740), ("ODT", 1080)],
    )  # fmt: skip
    table = find_table(t)
    assert table is not None and table.row == 1
    assert set(table.columns) >= {"parcel_number", "map_sheet_number", "area_m2", "land_use_purpose"}


def test_a_sheet_label_with_its_last_letter_lost_still_finds_the_number() -> None:
    t = _text([("a)", 60), ("Thửa", 90), ("đất", 150), ("số:", 200), ("273,", 250), ("tớ", 320), ("bản", 350),
               ("đ", 400), ("số:", 430), ("40;", 480)])  # fmt: skip
    vals = label_values(t, P2_PATTERNS)
    assert vals["parcel_number"].raw == "273" and vals["map_sheet_number"].raw == "40"


def test_a_blurred_booklets_key_fields_are_right_or_held(recorded_reader: Reader) -> None:
    """A booklet photographed with motion blur (certificate 16): whatever key field is read off it is right
    or never a certainty."""
    truth, doc = read_world_page(16, "gcn_2009", 2, "booklet", recorded_reader)
    for name in KEYS:
        fv = doc.fields.get(name)
        assert fv is None or fv.value == truth["fields"][name] or fv.confidence < 0.9, (name, fv)


@pytest.mark.xfail(
    strict=True,
    reason="issue 16, open: on this page as it is normalised now the layout pass loses the sheet's line and no "
    "re-read finds it (the test passed on an OCR recording made at another page size; live Tesseract at 83744cf "
    "fails it too)",
)
def test_a_number_contradicted_by_its_rereads_is_held_for_review(recorded_reader: Reader) -> None:
    """The same page: the sheet `40` read `48` by the layout pass, the digit re-read finds nothing and the eng
    model reads `40`. Found, but never a certainty."""
    truth, doc = read_world_page(16, "gcn_2009", 2, "booklet", recorded_reader)
    got = doc.fields.get("map_sheet_number")
    assert got is not None
    assert got.value == truth["fields"]["map_sheet_number"] or got.confidence < 0.9, got


def test_the_sketch_label_glued_to_its_unit_still_gives_the_parcel_number(recorded_reader: Reader) -> None:
    """Page 3 photocopied (certificate 16): the sparse reading of the sketch gives `273..` above `1473mm?`
    (`147,3 m²` with its comma lost): the number is the parcel's, the glued area only locates it."""
    truth, doc = read_world_page(16, "gcn_2009", 3, "photocopy", recorded_reader)
    got = doc.fields.get("parcel_number")
    assert got is not None and got.value == truth["fields"]["parcel_number"], got
    area = doc.fields.get("area_m2")
    assert area is None or area.confidence < 0.9 or abs(area.value - 147.3) < 0.05, area


@pytest.mark.parametrize(("cert_no", "form"), [(16, "gcn_2009"), (36, "gcn_pre2009")])
def test_values_after_garbled_labels_are_found_and_held_for_review(
    cert_no: int, form: str, recorded_reader: Reader
) -> None:
    """Phone photos (bench gcn --world --seed 5). Certificate 16: `66,6 m²` read `6,6` by the layout pass and
    its re-read alike, the words beside it too garbled to parse, the sheet's label read `tờ bại độ xố`.
    Certificate 36 (the 2003 form): `Thờa số: S81`, `Diên tícic 258,5` for 250,5. Every value is found, and
    none is a certainty unless right."""
    truth, doc = read_world_page(cert_no, form, 2, "phone", recorded_reader, bench_seed=5)
    for name in KEYS:
        fv = doc.fields.get(name)
        assert fv is not None, name
        assert fv.value == truth["fields"][name] or fv.confidence < 0.9, (name, fv)
