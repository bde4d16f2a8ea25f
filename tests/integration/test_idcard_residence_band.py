"""Place values on the 12-digit fronts as photographed (real dev set, chip 2021 and 2016 fronts): the layout
pass loses or scrambles a value's second row, fuses a label with its value across the colon, and the name
lexicon replaced a tone both readings saw. Each reproduced on a synthetic render, read with
what real Tesseract returned for it (replayed from tests/plugins/recordings/test_idcard_residence_band.json,
`pytest FILE --record-ocr -n 0` records it again)."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from card_renders import front_grey, same_place
from plugins.pages import rendered_page

from fixtures.idcards import render_card
from fixtures.people import Person, make_person
from models.document import Document
from models.elements import Block, Line, TextPage, Word, union
from worker.extract import read_document
from worker.extract.idcard import extract_card
from worker.ocr import Reader
from worker.ocr.reader import ReadOptions
from worker.vntext import name_key

HIGH = 0.9


@pytest.fixture(scope="module")
def reader(recorded_reader: Reader) -> Reader:
    return recorded_reader


def _person(generation: str) -> Person:
    # a residence long enough to wrap onto a second row on both fronts (a CMND holder born before 1995)
    p = make_person(random.Random("band-cmnd-1" if generation == "cmnd_9" else "band-2"), generation=generation)
    assert len(p.place_of_residence) > 60
    return p


def _residence_rows(layout: TextPage) -> tuple[Line, Line]:
    """The residence label's line and the line under it (the value's second row)."""
    lines = sorted(layout.lines, key=lambda ln: ln.box[1])
    label = next(ln for ln in lines if name_key(ln.text).startswith("NOI") and "THUONG" in name_key(ln.text))
    below = next(ln for ln in lines if ln.box[1] > label.box[1] + label.box[3] / 2)
    return label, below


def test_a_second_row_the_layout_pass_never_saw_is_read_where_it_stands(reader: Reader) -> None:
    """Real photos: the residence's second row was in no line of the layout pass (a faint print at the
    card's bottom edge); the value kept its first row alone, and the QR's wording stood unchecked."""
    p = _person("cccd_chip_2021")
    grey = front_grey(p)
    layout = reader.read(grey, psm=3)
    _, second = _residence_rows(layout)
    column = [w for w in second.words if w.box[0] >= 250]
    assert column, "the second row is under the label"
    # the row's words gone from the layout; the expiry's label beside it stays
    kept = Line.of([w for w in second.words if w not in column])
    lost = TextPage.of_lines([kept if ln is second else ln for ln in layout.lines])
    result = extract_card(reader, grey, lost, "cccd_chip_2021", "front")
    residence = result.fields["place_of_residence"]
    assert same_place(residence.value, p.place_of_residence)
    assert residence.confidence < HIGH  # one reading alone saw the second row


def test_a_second_row_cut_in_two_beside_the_expiry_is_read_whole_and_in_order(reader: Reader) -> None:
    """Real photos: the layout pass joined the second row's first word with the expiry's label under the
    photo and put the rest on a line of its own, a pixel higher: the rest came first, the first word was
    dropped with the expiry's label (`05 Ba Đình, Hải Châu, Đà Nẵng ... Thạch Tha`)."""
    p = _person("cccd_chip_2021")
    grey = front_grey(p)
    layout = reader.read(grey, psm=3)
    _, second = _residence_rows(layout)
    expiry = [w for w in second.words if w.box[0] < 250]
    column = [w for w in second.words if w.box[0] >= 250]
    first = Line.of([*expiry, column[0]])
    rest = Line.of(column[1:])
    assert rest.box[1] < first.box[1], "the rest's line sorts first"
    split = TextPage.of_lines([*(ln for ln in layout.lines if ln is not second), rest, first])
    result = extract_card(reader, grey, split, "cccd_chip_2021", "front")
    assert same_place(result.fields["place_of_residence"].value, p.place_of_residence)


class _FusedColons(Reader):
    """Tesseract, except that the layout pass reads a label's colon and the value's first word as one word
    (`quán:Xã`, `trú:194/42`), as on real photos of the 2016 card (fault injection)."""

    def __init__(self, inner: Reader) -> None:
        self.inner = inner
        self.lang = self.inner.lang

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        page = self.inner.read_page(image, options)
        return TextPage.model_construct(
            blocks=[Block.model_construct(lines=[_fuse(ln) for ln in b.lines]) for b in page.blocks]
        )

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        return self.inner.read_characters(image, options)

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        return self.inner.orientation(image)


def _fuse(line: Line) -> Line:
    words = list(line.words)
    for i, w in enumerate(words[:-1]):
        if ":" in w.text and name_key(w.text).rstrip(":,").endswith(("QUAN", "TRU")):
            nxt = words[i + 1]
            fused = Word(text=w.text.rstrip(",") + nxt.text, confidence=w.confidence, box=union([w.box, nxt.box]))
            return Line.of([*words[:i], fused, *words[i + 2 :]], confidence=line.confidence)
    return line


def _read(p: Person, reader: Reader) -> Document:
    img, _ = render_card(p, p.card_generation, "front", random.Random(7))
    return read_document(rendered_page(img), reader=reader)


def test_a_label_fused_with_its_value_across_the_colon_keeps_the_value_whole(reader: Reader) -> None:
    """Real photos of the 2016 card: `Quê quán:Đông` read as one word, and the label was never found (the
    origin missing); `trú:Khu` read as one word, and the value lost its first word with the label."""
    p = _person("cccd_barcode_2016")
    doc = _read(p, _FusedColons(reader))
    assert same_place(doc.value("place_of_origin"), p.place_of_origin)
    assert same_place(doc.value("place_of_residence"), p.place_of_residence)


def test_a_tone_both_readings_saw_is_not_replaced_by_the_lexicons(reader: Reader) -> None:
    """Real front: both readings of the print spelled the given name `HUẾ`; the name lexicon, which favours
    `HUỆ`, put its spelling in their place (the print read alone: no QR decoded)."""
    p = replace(make_person(random.Random("band-hue"), generation="cccd_chip_2021", sex="female"), given="Huế")
    grey = front_grey(p)
    result = extract_card(reader, grey, reader.read(grey, psm=3), "cccd_chip_2021", "front")
    assert result.fields["full_name"].value == p.full_name


def test_a_province_wrapped_alone_onto_the_next_row_is_kept(reader: Reader) -> None:
    """2016 front: the origin's last word (`Huế` of `Thừa Thiên Huế`) wrapped alone onto the next row, which
    the band took for a mark of the artwork (one word) and dropped."""
    p = replace(_person("cccd_barcode_2016"), place_of_origin="Xã Lộc Điền, Huyện Phú Lộc, Thừa Thiên Huế")
    grey = front_grey(p)
    layout = reader.read(grey, psm=3)
    assert any(name_key(ln.text) == "HUE" for ln in layout.lines), "the province wraps alone"
    result = extract_card(reader, grey, layout, "cccd_barcode_2016", "front")
    assert same_place(result.fields["place_of_origin"].value, p.place_of_origin)


def test_a_value_starting_left_of_a_label_read_without_its_first_word_is_read_whole(reader: Reader) -> None:
    """A faint chip front: the origin's label was read from its second word on (`quán / Place of origin`),
    so its edge stood right of the value's first word (`Xã`), which was dropped."""
    p = _person("cccd_chip_2021")
    grey = front_grey(p)
    layout = reader.read(grey, psm=3)
    label = next(ln for ln in layout.lines if "QUE QUAN" in name_key(ln.text))
    assert name_key(label.words[0].text) == "QUE"
    cut = Line.of(label.words[1:])
    origin = p.place_of_origin.split()[0]
    assert len(origin) <= 3, "a short first word, as `Xã`"
    result = extract_card(reader, grey, TextPage.of_lines([cut if ln is label else ln for ln in layout.lines]),
                          "cccd_chip_2021", "front")  # fmt: skip
    assert same_place(result.fields["place_of_origin"].value, p.place_of_origin)


def test_a_first_row_of_an_abbreviation_and_a_garbled_word_is_kept(reader: Reader) -> None:
    """A photographed chip front turned on its side: the residence's first row (`TDP` and the hamlet's name
    garbled to one letter) stood a little under the label, on a line of its own; the band dropped it as a
    mark of the artwork, and the rest alone, read alike twice, was held at 0.98."""
    p = _person("cccd_chip_2021")
    grey = front_grey(p)
    layout = reader.read(grey, psm=3)
    label, _ = _residence_rows(layout)
    end = next(i for i, w in enumerate(label.words) if "RESIDENCE" in name_key(w.text))
    head, value = label.words[: end + 1], label.words[end + 1 :]
    h = head[-1].box[3]
    moved = [Word(text="TDP", confidence=0.9, box=value[0].box), Word(text="Ứ.,", confidence=0.5, box=value[1].box)]
    moved = [w.model_copy(update={"box": (w.box[0], w.box[1] + h, w.box[2], w.box[3])}) for w in moved]
    page = TextPage.of_lines([Line.of(head) if ln is label else ln for ln in layout.lines] + [Line.of(moved)])
    result = extract_card(reader, grey, page, "cccd_chip_2021", "front")
    residence = result.fields["place_of_residence"]
    assert str(residence.value).startswith("TDP")
    assert residence.confidence < HIGH


@pytest.mark.parametrize("generation", ["cmnd_9", "cccd_chip_2021"])
def test_a_residence_whose_label_line_lost_its_value_is_never_confident(reader: Reader, generation: str) -> None:
    """A real blurred CMND photo: the residence's first part (a hamlet) on the label's line was lost, the
    line under it (commune, district, province: a whole address the lexicons confirm) came out at 0.99."""
    p = _person(generation)
    grey = front_grey(p)
    layout = reader.read(grey, psm=3)
    label, _ = _residence_rows(layout)
    # the print right of the label's words wiped from the card, as blur and glare wipe it
    words = label.words
    keys = [name_key(w.text) for w in words]
    colon = [i for i, w in enumerate(words) if ":" in w.text]
    cut = colon[0] + 1 if colon else keys.index("THUONG") + 2  # the bilingual label ends at its colon
    x0 = words[cut].box[0] if cut < len(words) else label.box[0] + label.box[2]
    y, h = label.box[1], label.box[3]
    wiped = grey.copy()
    wiped[max(0, y - 2) : y + h + 2, x0 - 2 :] = int(np.median(grey))
    kept = Line.of(words[:cut])
    lost = TextPage.of_lines([kept if ln is label else ln for ln in layout.lines])
    result = extract_card(reader, wiped, lost, generation, "front")
    residence = result.fields["place_of_residence"]
    assert residence.value and not same_place(residence.value, p.place_of_residence)
    assert residence.confidence < HIGH
