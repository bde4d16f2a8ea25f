"""Failure classes of place and name fields on real captures (issue 15), on made-up values and hand-built
layout lines: the English half of a bilingual label taken into the value, a value's first word fused with
the label, a wrapped line lost behind the left column's label, the QR's wording taken for the print's,
diacritics the catalogue repairs, and a doubled vowel."""

from __future__ import annotations

import numpy as np
import pytest

from models import fields as F
from models.elements import EMPTY_LINE, Line, TextPage, Word
from worker.extract.gazetteer import respell
from worker.extract.idcard.evidence import Features, Reading, score
from worker.extract.idcard.labels import LABELS, drop_english_half, find_label, lines_below, split_colons, strip_tail
from worker.extract.idcard.plausible import address_evidence
from worker.extract.idcard.qrprint import print_shaped
from worker.extract.idcard.text import clean_name, read_text_field
from worker.extract.idcard.vote import decide, vote
from worker.extract.places import correct
from worker.ocr import Reader
from worker.ocr.reader import ReadOptions
from worker.vntext import name_key


def _word(text: str, x: int, y: int = 500, h: int = 20) -> Word:
    return Word(text=text, confidence=0.9, box=(x, y, 11 * len(text), h))


def _line(*words: tuple[str, int]) -> Line:
    return Line.of([_word(t, x) for t, x in words])


def test_a_garbled_english_half_of_the_label_is_not_the_value() -> None:
    """`Nơi thường trú / Place of residence:` read as `... / %aco cv r%eforve Ấp Tân Hòa`: the English half,
    however garbled, ends where the Vietnamese half's width puts it; the words after it are the value."""
    label = _line(("Nơi", 300), ("thường", 345), ("trú", 420), ("/", 462), ("%aco", 480), ("cv", 530),
                  ("r%eforve", 562), ("Ấp", 680), ("Tân", 712), ("Hòa", 755))  # fmt: skip
    hit = find_label([label], LABELS[F.PLACE_OF_RESIDENCE])
    assert hit is not None
    words = drop_english_half(hit, strip_tail(hit.value_words, LABELS[F.PLACE_OF_RESIDENCE]), F.PLACE_OF_RESIDENCE)
    assert [w.text for w in words] == ["Ấp", "Tân", "Hòa"]


def test_a_vietnamese_only_label_keeps_its_value() -> None:
    """2016 cards print `Nơi thường trú:` alone, its value right after it: nothing is cut."""
    label = _line(("Nơi", 300), ("thường", 345), ("trú:", 420), ("Xã", 480), ("Hải", 510), ("Dương,", 550))
    hit = find_label([label], LABELS[F.PLACE_OF_RESIDENCE])
    assert hit is not None
    words = drop_english_half(hit, strip_tail(hit.value_words, LABELS[F.PLACE_OF_RESIDENCE]), F.PLACE_OF_RESIDENCE)
    assert [w.text for w in words] == ["Xã", "Hải", "Dương,"]


def test_a_first_word_fused_with_the_label_keeps_its_own_part() -> None:
    """`Place of residence:Phú Lộc` read as one word `residence:Phú`: the label's tail was dropped with the
    value's first word; the word's own part stays, its box on the value's side."""
    label = _line(("Nơi", 300), ("thường", 345), ("trú", 420), ("/", 462), ("Place", 480), ("of", 540),
                  ("residence:Phú", 565), ("Lộc", 720))  # fmt: skip
    hit = find_label([label], LABELS[F.PLACE_OF_RESIDENCE])
    assert hit is not None
    words = strip_tail(hit.value_words, LABELS[F.PLACE_OF_RESIDENCE])
    assert [w.text for w in words] == ["Phú", "Lộc"]
    fused = label.words[6]
    assert words[0].box[0] > fused.box[0] + fused.box[2] // 2 and words[0].box[0] + words[0].box[2] == fused.box[0] + fused.box[2]


def test_a_wrapped_value_behind_the_left_columns_label_is_still_read() -> None:
    """The value's second line shares its row with `Date of expiry` under the photo: the layout pass made
    one line of both, and the other field's label ended the value. A row whose label stands left of the
    column and holds no value there (`Có giá trị đến: 4 9/2027`, the date's specks reaching into the
    column) is passed over."""
    label = _line(("Nơi", 300), ("thường", 345), ("trú:", 420), ("Thôn", 480), ("Phú", 530), ("Lộc", 570))
    expiry = Line.of([_word("Có", 30, 530), _word("giá", 60, 530), _word("trị", 100, 530), _word("đến:", 130, 530),
                      _word("4", 200, 530), _word("9/2027", 310, 530)])  # fmt: skip
    wrapped = Line.of([_word("Date", 30, 558), _word("of", 80, 558), _word("expiry", 110, 558),
                       _word("Hải", 300, 556), _word("Dương,", 340, 556), _word("Hải", 420, 556),
                       _word("Lăng,", 460, 556), _word("Quảng", 530, 556), _word("Trị", 600, 556)])  # fmt: skip
    own = LABELS[F.PLACE_OF_RESIDENCE]
    hit = find_label([label, expiry, wrapped], own)
    assert hit is not None
    got = lines_below([label, expiry, wrapped], hit.label_box, exclude=hit.line, max_lines=2, own=own)
    assert got == [wrapped]


def test_the_next_fields_label_still_ends_the_value() -> None:
    """A row holding the left column's label and, in the value's column, the next field's label is the
    end of the value, not its second line."""
    label = _line(("Quê", 300), ("quán:", 345), ("Hải", 420), ("Dương", 460))
    merged = Line.of([_word("Có", 30, 530), _word("giá", 60, 530), _word("trị", 100, 530), _word("đến:", 130, 530),
                      _word("Nơi", 300, 530), _word("thường", 345, 530), _word("trú:", 420, 530),
                      _word("Thôn", 480, 530), _word("Phú", 530, 530)])  # fmt: skip
    own = LABELS[F.PLACE_OF_ORIGIN]
    hit = find_label([label, merged], own)
    assert hit is not None
    assert lines_below([label, merged], hit.label_box, exclude=hit.line, max_lines=2, own=own) == []


@pytest.mark.parametrize(
    ("qr", "printed", "want"),
    [
        # the print leaves out the hamlet's type, and a read one letter off takes the QR's spelling
        ("Thôn Phú Lộc, Hải Dương, Hải Lăng, Quảng Trị", "Phú Lộc Hải Dương, Hai Lăng, Quảng Tri", "Phú Lộc, Hải Dương, Hải Lăng, Quảng Trị"),
        # a numbered team before the hamlet; a label's garbled rest before the value goes
        ("Đội 2, Thôn An Lạc, Hải Dương, Hải Lăng, Quảng Trị", "2ce of 6s Thôn An Lạc Hải Dương, Hải Lăng, Quảng Trị", "Thôn An Lạc, Hải Dương, Hải Lăng, Quảng Trị"),
        # the print's own unit words stay, specks between the lines go
        ("Tổ 7, Hương Sơ, Huế, Thừa Thiên Huế", "KV Hương Sơ cm ì Thành phố Huế, Thừa Thiên Huế", "KV Hương Sơ, Thành phố Huế, Thừa Thiên Huế"),
        # the same number of words in the same place: the QR's, misread
        ("Tổ 7, Hương Sơ, Huế, Thừa Thiên Huế", "Tể 7 Hương Sơ, Huế, Thừa Thiên Huế", "Tổ 7, Hương Sơ, Huế, Thừa Thiên Huế"),
        # a word garbled past being a syllable, where the QR has one word: the QR's, misread
        ("Tổ 7, Phường Phú Hội, Thành phố Huế, Thừa Thiên Huế", "Jc 7 Phú Hội, Thành phố Huế, Thừa Thiên Huế",
         "Tổ 7, Phú Hội, Thành phố Huế, Thừa Thiên Huế"),
    ],
)  # fmt: skip
def test_the_qr_residence_is_worded_as_printed(qr: str, printed: str, want: str) -> None:
    assert print_shaped(qr, printed) == want


@pytest.mark.parametrize(
    ("qr", "printed"),
    [
        ("Thôn Phú Lộc, Hải Dương, Hải Lăng, Quảng Trị", "ộc Hải Dương, Hải Lăng, Quảng Trị"),  # a name lost by the read
        ("Thôn Phú Lộc, Hải Dương, Hải Lăng, Quảng Trị", "Thôn Phú Lộc"),  # the second line lost
        ("Thôn Phú Lộc, Hải Dương, Hải Lăng, Quảng Trị", "Thôn Phú Lộc, Hải Dương, Triệu Phong, Quảng Trị"),
    ],
)
def test_a_print_reading_that_does_not_cover_the_qr_leaves_it_as_it_is(qr: str, printed: str) -> None:
    assert print_shaped(qr, printed) is None


@pytest.mark.parametrize(
    ("read", "want"),
    [
        # a wrong diacritic and a lost letter, found among the units of the province and district before them
        ("Cảm Tân, Cam Thủy, Thanh Hó", "Cẩm Tân, Cẩm Thủy, Thanh Hóa"),
        ("Thị trần Chợ Rã, Ba Bẻ Bắc Kạn", "Thị trấn Chợ Rã, Ba Bể, Bắc Kạn"),
        ("Tổ 5 Thị trắn Phong Điền, Phong Điên, Thừa Thiên Huế", "Tổ 5 Thị trấn Phong Điền, Phong Điền, Thừa Thiên Huế"),
        ("Vạn Điểm, Thường Tn, Hà Nội", "Vạn Điểm, Thường Tín, Hà Nội"),
        # a wrapped line lost the comma after the commune: words before the district that are all one of its
        # communes are that commune; a hamlet's words (not the catalogue's) stay as read
        ("Cảm Tân Cẩm Thủy, Thanh Hóa", "Cẩm Tân, Cẩm Thủy, Thanh Hóa"),
        ("Lạ Hoắc Cẩm Thủy, Thanh Hóa", "Lạ Hoắc Cẩm Thủy, Thanh Hóa"),
        # what is not the catalogue's (house, hamlet) and a part no unit is close to stay as read
        ("12 Kiệt 5 Lạ Hoắc, Xyz Abc, Thừa Thiên Huế", "12 Kiệt 5 Lạ Hoắc, Xyz Abc, Thừa Thiên Huế"),
        # an address ends with its province: a speck after it goes when its district confirms it; more
        # words may be the value's own first line, put last by the layout pass, and stay
        ("Phước Ninh, Hải Châu, Đà Nẵng tử", "Phước Ninh, Hải Châu, Đà Nẵng"),
        ("Phước Ninh, Hải Châu, Đà Nẵng TDP Hòa An", "Phước Ninh, Hải Châu, Đà Nẵng TDP Hòa An"),
        # a commune one letter from a province (`Bình Minh`, `Bình Định`) is not taken for it unconfirmed
        ("Xyz, Bình Minh", "Xyz, Bình Minh"),
        # the southern hamlet's unit word with its tone misread begins a part; a hamlet named alike stays
        ("Áp Tân Lợi, Châu Phú, An Giang", "Ấp Tân Lợi, Châu Phú, An Giang"),
        ("Khom 3, Châu Phú, An Giang", "Khóm 3, Châu Phú, An Giang"),
        ("Thôn Áp Bắc, Phú Vang, Thừa Thiên Huế", "Thôn Áp Bắc, Phú Vang, Thừa Thiên Huế"),
    ],
)
def test_places_are_respelled_from_the_province_down(read: str, want: str) -> None:
    assert correct(read) == want


def test_a_name_two_units_of_one_district_share_is_left_alone() -> None:
    # no province at the end: nothing to stand on
    assert respell("Phú Lộc, Hải Dương") == "Phú Lộc, Hải Dương"


def test_tied_address_readings_go_to_the_one_the_catalogue_confirms() -> None:
    good = Reading("Vạn Điểm, Thường Tín, Hà Nội", "layout", 0.8)
    bad = Reading("€Nờng Điểm, Thường Tn Hà Nội", "ocr", 0.97)
    assert vote([bad, good], F.PLACE_OF_ORIGIN) is good
    # other fields keep the source order
    assert vote([Reading("A", "ocr"), Reading("B", "layout")], F.NATIONALITY).value == "A"


def test_a_vowel_read_twice_with_two_tones_is_one_vowel() -> None:
    assert clean_name("VÕÒ THỊ AN") == "VÕ THỊ AN"
    assert name_key(clean_name("XOONG")) == "XOONG"


class _Blind(Reader):
    """Sees nothing on a re-read: what a field gives is then the layout pass's words alone."""

    lang = "vie"

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        return TextPage.of_lines([])

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        return EMPTY_LINE

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        return None


def test_an_address_that_reached_its_province_takes_no_further_line() -> None:
    """The residence label lost by the layout pass: the place of origin, whole on its line, took the
    residence's second line as its own (`..., Vĩnh Phúc Thị trấn ..., Vĩnh Phúc`)."""
    label = _line(("Quê", 300), ("quán:", 345))
    origin = Line.of([_word(t, x, 530) for t, x in (("Hải", 300), ("Dương,", 340), ("Hải", 420), ("Lăng,", 460),
                                                      ("Quảng", 530), ("Trị", 600))])  # fmt: skip
    other = Line.of([_word(t, x, 560) for t, x in (("Thôn", 300), ("Phú", 350), ("Lộc", 390))])
    grey = np.full((700, 900), 255, np.uint8)
    readings, _ = read_text_field(_Blind(), grey, TextPage.of_lines([label, origin, other]), F.PLACE_OF_ORIGIN,
                                  max_lines=2)  # fmt: skip
    assert readings[0].value == "Hải Dương, Hải Lăng, Quảng Trị"
    # a city named as such may be a district's name too: its province may follow on the next line
    city = Line.of([_word(t, x, 530) for t, x in (("Phú", 300), ("Hội,", 340), ("TP.", 420), ("Huế,", 460))])
    province = Line.of([_word(t, x, 560) for t, x in (("Thừa", 300), ("Thiên", 350), ("Huế", 420))])
    readings, _ = read_text_field(_Blind(), grey, TextPage.of_lines([label, city, province]), F.PLACE_OF_ORIGIN,
                                  max_lines=2)  # fmt: skip
    assert name_key(str(readings[0].value)) == name_key("Phú Hội, TP. Huế, Thừa Thiên Huế")


def test_a_label_matched_past_the_end_of_its_line_is_no_crash() -> None:
    """A card back: `Personal identificatio` matched the three-word label `Personal identification
    number` with two words, and the value's start was looked up past the line's end."""
    words = [_word("Personal", 300), _word("identificatio", 400)]
    assert strip_tail(words) == []


def test_a_label_left_of_a_mid_line_label_still_ends_its_value() -> None:
    """Only the expiry's label stands left of the value column: the origin's label row under `Quốc tịch`
    (printed mid-line) ends the nationality's search, and the origin's value is never the nationality."""
    nationality = Line.of([_word(t, x, 430) for t, x in (("Giới", 300), ("tính:", 350), ("Nam", 420),
                                                           ("Quốc", 600), ("tịch:", 650))])  # fmt: skip
    origin_label = Line.of([_word(t, x, 460) for t, x in (("Quê", 300), ("quán", 345), ("/", 400), ("Place", 470),
                                                            ("of", 540), ("origin:", 590))])  # fmt: skip
    origin = Line.of([_word(t, x, 490) for t, x in (("Hải", 300), ("Dương,", 340), ("Hải", 420), ("Lăng,", 460),
                                                      ("Quảng", 530), ("Trị", 600))])  # fmt: skip
    own = LABELS[F.NATIONALITY]
    hit = find_label([nationality, origin_label, origin], own)
    assert hit is not None
    assert lines_below([nationality, origin_label, origin], hit.label_box, exclude=hit.line, max_lines=1, own=own) == []


def test_a_name_reread_with_a_split_word_gives_way_to_the_clean_layout_reading() -> None:
    """Real photo: the re-read split the surname and took in a speck (`ĐÌ INH ... TH`) while the layout
    pass read the name cleanly; the lexicon, working on the re-read, kept its words."""
    readings = {
        F.FULL_NAME: [
            Reading("TRẦN BÁ HÙNG", "layout", 0.6),
            Reading("TRẦ ẦN BÁ HÙNG TH", "ocr", 0.95),
            Reading("TRẦ ẦN BÁ HÙNG TH", "lexicon", 0.95, extra={"posterior": 0.9, "changes": 0.0}),
        ]
    }
    fields, _ = decide(readings, [])
    assert fields[F.FULL_NAME].value == "TRẦN BÁ HÙNG"
    # a layout reading with as many words is no better evidence: the lexicon's stands
    readings[F.FULL_NAME][0] = Reading("TRÂN BÁ HÙNG THỊ NHÂN", "layout", 0.6)
    fields, _ = decide(readings, [])
    assert fields[F.FULL_NAME].value == "TRẦ ẦN BÁ HÙNG TH"


def test_a_typed_cards_unchecked_hamlet_is_never_confident() -> None:
    """Real 9-digit card: both readings repeated a typewriter tone misread in the hamlet's name, which no
    catalogue holds, while the commune, district and province checked: it came out at 0.94."""
    f = Features(field=F.PLACE_OF_RESIDENCE, sources=["layout", "ocr"], char_conf=0.99, min_char_conf=0.9,
                 typewriter=True)  # fmt: skip
    e = address_evidence("Thôn Phú Lộc, Hải Dương, Hải Lăng, Quảng Trị")
    f.places, f.junk, f.unchecked = e.places, e.junk, e.unchecked
    assert (e.places, e.unchecked) == (3, 1)
    assert score(f) <= 0.8


def test_a_typed_cards_name_is_never_confident() -> None:
    """Real 9-digit cards: names read from the typed print were a tone mark off on 3 of 8 cards, every
    reading repeating the misread, one at 0.98."""
    f = Features(field=F.FULL_NAME, sources=["layout", "lexicon", "ocr"], char_conf=0.99, min_char_conf=0.95,
                 lexicon_posterior=0.99, exact_reads=2, typewriter=True)  # fmt: skip
    assert score(f) <= 0.8
    f.typewriter = False
    assert score(f) > 0.9


def test_the_qr_residence_worded_as_printed_keeps_an_address_spacing() -> None:
    """A photocopied print of `TP. Huế`: the QR's value worded as the print keeps the QR's spacing after the
    abbreviation's dot (it had come out `TP.Huế`, a junk word, and the value was held at 0.15)."""
    qr = "156 Chu Văn An, Phường Xuân Phú, TP. Huế, Thừa Thiên Huế"
    assert print_shaped(qr, "e otresdeace 156 Chu Văn An, Phường Xuân Phú, TP. Huế, Thừa Thiên Huế") == qr


def test_only_a_place_labels_colon_fused_with_its_value_is_split() -> None:
    """`trú:Khu` (the label found whole, the value keeps its first word); a date fused with its label is
    read as it is (splitting it lost the date's digits on a real 2016 front)."""
    line = _line(("Nơi", 300), ("thường", 340), ("trú:Khu", 420), ("phố", 520), ("6", 570))
    dob = _line(("Ngày", 300), ("sinh:12/07/1988", 360))
    split = split_colons(TextPage.of_lines([line, dob]))
    assert [w.text for w in split.lines[0].words] == ["Nơi", "thường", "trú:", "Khu", "phố", "6"]
    assert split.lines[1] is dob
