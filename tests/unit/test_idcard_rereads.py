"""Which regions of a card are read again: a reading already settled is not read a fourth way, a value a
decoded QR gives and the print confirms is not read again at all, and a sex the number encodes does not
cost a second layout pass. A scripted engine answers every call, so what is asked of it is counted
(no Tesseract)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from models import fields as F
from models.elements import Line, TextPage, Word
from worker.extract.idcard import card, numbers
from worker.extract.idcard.evidence import Reading
from worker.extract.idcard.rows import RowLayout
from worker.ocr import CccdQr, Reader, ReadOptions

NUMBER = "001090001234"  # Hà Nội, born in the 1900s, a man
OTHER = "001090005678"
BOX = (300, 200, 240, 30)


class _Scripted(Reader):
    """Answers every line read with `text` and every page read with an empty page; keeps what was asked."""

    lang = "vie"

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: list[ReadOptions] = []
        self.pages: list[ReadOptions] = []

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        self.pages.append(options)
        return TextPage()

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        self.lines.append(options)
        return Line.of([Word(text=self.text, confidence=0.95, box=(0, 0, 10 * len(self.text), 30))])

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        return None


def _card() -> tuple[np.ndarray, np.ndarray]:
    colour = np.full((638, 1012, 3), 230, np.uint8)
    return colour[:, :, 0].copy(), colour


def _layout(number: str) -> TextPage:
    line = Line.of(
        [Word(text="Số/No:", confidence=0.9, box=(200, 200, 90, 30)), Word(text=number, confidence=0.9, box=BOX)]
    )
    return TextPage.of_lines([line])


def _qr(number: str) -> CccdQr:
    return CccdQr(number, None, "NGUYỄN VĂN AN", date(1990, 3, 12), "male", "Hà Nội", date(2021, 5, 1))


def test_a_date_three_readings_agree_on_is_not_read_a_fourth_way() -> None:
    img, _ = _card()
    engine = _Scripted("12/03/1990")
    found = numbers._reread_date(engine, img, BOX, date(1990, 3, 12))
    assert [r.source for r in found] == ["ocr", "ocr_eng"]
    assert [(o.psm, o.lang) for o in engine.lines] == [(8, "vie"), (8, "eng")]
    # the layout pass read another date: the raw-line reading joins the vote
    engine = _Scripted("12/03/1990")
    found = numbers._reread_date(engine, img, BOX, date(1990, 3, 13))
    assert [r.source for r in found] == ["ocr", "ocr_alt", "ocr_eng"]
    assert 13 in [o.psm for o in engine.lines]


def test_a_number_three_readings_agree_on_is_not_read_from_the_green_channel() -> None:
    img, colour = _card()
    engine = _Scripted(NUMBER)
    found = numbers._reread_number(engine, img, colour, BOX, "cccd_chip_2021", 12, NUMBER)
    assert [r.source for r in found] == ["ocr", "ocr_eng"]
    assert all(o.whitelist for o in engine.lines)  # the green channel's read is the one without a whitelist
    # the layout pass lost the number: the green channel is read too
    engine = _Scripted(NUMBER)
    found = numbers._reread_number(engine, img, colour, BOX, "cccd_chip_2021", 12, "")
    assert [r.source for r in found] == ["ocr", "ocr_alt", "ocr_eng"]


def test_a_number_the_qr_gives_and_the_print_confirms_is_not_read_again() -> None:
    img, colour = _card()
    engine = _Scripted(NUMBER)
    readings = card._read_print(
        engine, img, _layout(NUMBER), "cccd_chip_2021", (F.ID_NUMBER,), colour, None, _qr(NUMBER), None
    )
    assert [r.source for r in readings[F.ID_NUMBER]] == ["layout"] and engine.lines == []
    # a QR naming another number than the print (a misread, a QR of another card): the print is read again
    engine = _Scripted(NUMBER)
    readings = card._read_print(
        engine, img, _layout(NUMBER), "cccd_chip_2021", (F.ID_NUMBER,), colour, None, _qr(OTHER), None
    )
    assert "ocr" in [r.source for r in readings[F.ID_NUMBER]] and engine.lines


def test_a_sex_the_number_encodes_costs_no_second_layout_pass() -> None:
    img, colour = _card()
    printed = (F.ID_NUMBER, F.SEX)
    engine = _Scripted(NUMBER)
    card._read_print(engine, img, _layout(NUMBER), "cccd_chip_2021", printed, colour, None, None, None)
    assert engine.pages == []
    # a number whose century digit no card carries says nothing of the sex: the card is read again as a block
    bad = "001790001234"
    engine = _Scripted(bad)
    card._read_print(engine, img, _layout(bad), "cccd_chip_2021", printed, colour, None, None, None)
    assert [o.psm for o in engine.pages] == [6]


class _CornerPage(_Scripted):
    """As _Scripted, and a page read answers with an expiry line at `box` (in the read image's pixels); the
    line reads (the corner under the photo, the date's re-reads) see no date."""

    def __init__(self, text: str, box: tuple[int, int, int, int]) -> None:
        super().__init__(text)
        self.box = box
        self.shapes: list[tuple[int, ...]] = []

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        self.pages.append(options)
        self.shapes.append(image.shape)
        x, y, _, h = self.box
        label = Word(text="Có giá trị đến:", confidence=0.9, box=(x, y, 150, h))
        value = Word(text="12/03/2035", confidence=0.9, box=(x + 160, y, 130, h))
        return TextPage.of_lines([Line.of([label, value])])


def test_an_expiry_the_layout_pass_lost_is_looked_for_in_the_lower_left_corner_only() -> None:
    img, colour = _card()
    printed = (F.ID_NUMBER, F.DATE_OF_EXPIRY)
    engine = _CornerPage("~", (20, 150, 290, 24))
    readings = card._read_print(engine, img, _layout(NUMBER), "cccd_chip_2021", printed, colour, None, None, None)
    (shape,) = engine.shapes
    assert shape[0] * shape[1] < 0.3 * img.shape[0] * img.shape[1]  # the corner, not the card
    top, right = int(card.EXPIRY_CORNER[0] * 638), int(card.EXPIRY_CORNER[1] * 1012)
    assert shape[:2] == (638 - top, right)
    expiry = [r for r in readings[F.DATE_OF_EXPIRY] if r.valid]
    assert {r.value for r in expiry} == {"2035-03-12"}
    # the corner's words are placed on the card: the layout reading's box is where the corner put it
    layout = next(r for r in expiry if r.source == "layout")
    assert layout.box is not None and layout.box[1] == top + 150


def test_a_lost_field_besides_the_expiry_still_costs_a_whole_card_pass() -> None:
    img, colour = _card()
    printed = (F.ID_NUMBER, F.FULL_NAME, F.DATE_OF_EXPIRY)
    engine = _CornerPage("~", (20, 150, 290, 24))
    card._read_print(engine, img, _layout(NUMBER), "cccd_chip_2021", printed, colour, None, None, None)
    assert engine.shapes == [img.shape]


def test_a_cmnd_rows_number_or_date_the_readings_settle_is_not_read_again_from_the_rows() -> None:
    # the rows' own reading stands in for a layout pass that lost the value: with the whitelisted re-read
    # and the `eng` reading agreeing and no reading dissenting, the rows' re-reads are not made
    def rd(value: str, source: str) -> Reading:
        return numbers.id_reading(value, source, 0.9, 0.8, 9, BOX)

    number = "123456789"
    assert card._settled_by_rereads([rd(number, "ocr"), rd(number, "ocr_eng"), rd(number, "layout")])
    assert not card._settled_by_rereads([rd(number, "ocr"), rd(number, "layout")])  # no second recogniser
    dissent = [rd(number, "layout"), rd(number, "ocr"), rd(number, "ocr_eng"), rd("123456788", "layout")]
    assert not card._settled_by_rereads(dissent)
    assert F.FULL_NAME not in card._SETTLED_BY_REREADS  # a name's re-read gives the lexicon its choices


def _name_page() -> TextPage:
    words = [("Họ", 330), ("tên:", 380), ("NGUYỄN", 460), ("VĂN", 600), ("AN", 680)]
    return TextPage.of_lines([Line.of([Word(text=t, confidence=0.9, box=(x, 260, 10 * len(t), 30)) for t, x in words])])


def test_a_cmnd_name_the_rows_give_is_not_read_from_the_layout_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # the rows' name replaces the layout pass's: the layout pass's name is read only when the rows lose it
    img, colour = _card()
    page = _name_page()
    for rows_page, name_reads in ((page, 1), (TextPage(), 1)):
        monkeypatch.setattr(card, "read_rows", lambda *_, rp=rows_page: RowLayout(rp, img))
        engine = _Scripted("NGUYỄN VĂN AN")
        found = card._read_print(engine, img, page, "cmnd_9", (F.FULL_NAME,), colour, None, None, None, colour)
        assert sum(o.choices for o in engine.lines) == name_reads  # one read of its one row, not two
        assert any(r.value == "NGUYỄN VĂN AN" for r in found[F.FULL_NAME])
