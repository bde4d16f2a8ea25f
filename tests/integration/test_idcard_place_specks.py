"""Place values that kept what is no part of them (real dev set, CMND and chip fronts as photographed): the next
field's label read after the origin's province, specks of the guilloche and dot leaders read as marks glued to
a digit or a word and as a lone stroke between the parts, the label's garbled end before its colon taken into
the re-read of the residence's first row. Each reproduced on a synthetic render, read with what real Tesseract
returned for it (replayed from tests/plugins/recordings/test_idcard_place_specks.json, `pytest FILE
--record-ocr -n 0` records it again), the misreads injected as real photos gave them."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from card_renders import front_grey, same_place

from fixtures.people import Person, make_person
from models.elements import Block, Line, Symbol, TextPage, Word
from worker.extract.idcard import extract_card
from worker.ocr import Reader
from worker.ocr.reader import ReadOptions
from worker.vntext import name_key

HIGH = 0.9


@pytest.fixture(scope="module")
def reader(recorded_reader: Reader) -> Reader:
    return recorded_reader


def _cmnd() -> Person:
    # an origin in another province than the residence: only the origin's rows get the misreads
    p = make_person(random.Random("specks-2"), generation="cmnd_9")
    assert name_key(p.place_of_origin).endswith("HA NOI") and not name_key(p.place_of_residence).endswith("HA NOI")
    return p


def _speck(text: str, like: Word) -> Word:
    x, y, w, h = like.box
    return Word(
        text=text,
        confidence=0.4,
        box=(x + w + h, y, h * len(text), h),
        symbols=[Symbol(text=ch, confidence=0.4) for ch in text] if like.symbols else [],
    )


class _Misreads(Reader):
    """Tesseract, except that every read of a line holding one of the origin's words is given that word's
    misread (fault injection): `rewrite` maps a line's words to what a real photo gave for them."""

    def __init__(self, inner: Reader, rewrite: dict[str, list[str]]) -> None:
        self.inner = inner
        self.lang = inner.lang
        self.rewrite = rewrite

    def _line(self, line: Line) -> Line:
        words: list[Word] = []
        for w in line.words:
            texts = self.rewrite.get(w.text.rstrip(",.;"))
            if texts is None:
                words.append(w)
                continue
            head = w.model_copy(update={"text": texts[0]})
            words.append(head)
            words.extend(_speck(t, head) for t in texts[1:])
        return Line.of(words, confidence=line.confidence) if words != line.words else line

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        page = self.inner.read_page(image, options)
        return TextPage.model_construct(
            blocks=[Block.model_construct(lines=[self._line(ln) for ln in b.lines]) for b in page.blocks]
        )

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        return self._line(self.inner.read_characters(image, options))

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        return self.inner.orientation(image)


def _origin(reader: Reader, p: Person) -> tuple[object, float]:
    grey = front_grey(p)
    result = extract_card(reader, grey, reader.read(grey, psm=3), p.card_generation, "front")
    origin = result.fields["place_of_origin"]
    return origin.value, origin.confidence


def test_the_next_label_read_after_the_origins_province_is_cut(reader: Reader) -> None:
    """A real CMND photo: the origin's last row ran into `Nơi ĐKHK thường trú` under it, read too garbled for
    its `thường trú` to be found (`..., Hà Nội Í Nơi ÔKKFfKK`), and the label's head stayed in the value."""
    p = _cmnd()
    value, confidence = _origin(_Misreads(reader, {"Nội": ["Nội", "Í", "Nơi", "ÔKKFfKK"]}), p)
    assert same_place(value, p.place_of_origin)
    assert confidence < HIGH or value == p.place_of_origin


def test_specks_where_a_comma_stood_are_dropped(reader: Reader) -> None:
    """Real CMND photos: the dot leaders and the guilloche between an origin's commune and district were read
    as a mark glued to a digit (`Bạc \\`4 Quận`), a lone stroke and a mark glued to the next word
    (`Bạc, Í _Quận`); the specks stayed in the value, which the lexicons then could not confirm."""
    p = _cmnd()
    commune_end = p.place_of_origin.split(",")[0].split()[-1]
    district_head = p.place_of_origin.split(",")[1].split()[0]
    rewrite = {commune_end: [commune_end, "`4", "Í"], district_head: ["_" + district_head]}
    value, confidence = _origin(_Misreads(reader, rewrite), p)
    assert same_place(value, p.place_of_origin)
    assert confidence < HIGH or value == p.place_of_origin


def test_the_labels_end_before_its_colon_is_not_the_residence(reader: Reader) -> None:
    """The chip specimen: the layout pass read the label's colon glued to the value's first word, misread
    (`:12/J4`), with a box reaching back over the label's last letters; the re-read of the row, right but
    for those letters (`nce: 12/34`), kept them in the value."""
    p = make_person(random.Random("specks-chip"), generation="cccd_chip_2021")
    grey = front_grey(p)
    layout = reader.read(grey, psm=3)
    label = next(ln for ln in layout.lines if "THUONG TRU" in name_key(ln.text))
    end = next(i for i, w in enumerate(label.words) if "RESIDENCE" in name_key(w.text))
    tail, first = label.words[end], label.words[end + 1]
    x0 = tail.box[0] + tail.box[2] * 2 // 3  # the label's last letters and its colon
    misread = first.text.translate(str.maketrans("38", "JB"))
    assert misread != first.text and re.match(r"\d", first.text), "a house number with a 3 or an 8"
    fused = Word(
        text=":" + misread,
        confidence=first.confidence,
        box=(x0, first.box[1], first.box[0] + first.box[2] - x0, first.box[3]),
    )
    words = [*label.words[: end + 1], fused, *label.words[end + 2 :]]
    page = TextPage.of_lines([Line.of(words) if ln is label else ln for ln in layout.lines])
    result = extract_card(reader, grey, page, "cccd_chip_2021", "front")
    residence = result.fields["place_of_residence"]
    assert same_place(residence.value, p.place_of_residence)
