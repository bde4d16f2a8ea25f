"""The certificate serial's vote (issue 16, real captures II): on a phone photo of a red serial the eng
model read `DL 071995` at both text sizes while the vie model read `DL 07192`, a digit short but another
digit where eng saw 9. The two eng readings carried the vote at 0.99 and were wrong. A short reading that
contradicts the winner now keeps the serial below certainty. The readers' answers are scripted."""

from __future__ import annotations

import numpy as np
import pytest
from plugins.ocr import ScriptedReader

from models.elements import Line, TextPage, Word
from worker.extract.gcn.codes import _vote_serial, read_serial
from worker.extract.gcn.evidence import Evidence, confidence_of
from worker.extract.gcn.images import PageImages
from worker.extract.gcn.text import PageText

H, W = 2000, 1400
BOX = (1000, 1800, 300, 50)


def _serial(layout: str, rereads: list[str]) -> Evidence | None:
    words = [
        Word(text=t, confidence=0.99, box=(BOX[0] + 120 * i, BOX[1], 100, BOX[3])) for i, t in enumerate(layout.split())
    ]
    t = PageText.of(TextPage.of_lines([Line.of(words)]))
    page = np.full((H, W), 255, np.uint8)
    pg = PageImages(None, page, 1.0, 1.0, ScriptedReader(rereads))
    return read_serial(t, pg, "gcn_2009", H, [])


def test_a_short_reading_that_saw_another_digit_keeps_the_serial_below_certainty() -> None:
    ev = _serial("DL 071995", ["DL 07192", "DL 071995", "DL 071995"])
    assert ev is not None and ev.value == "DL 071995"
    assert confidence_of(ev) < 0.9


@pytest.mark.parametrize("short", ["DL 07199", "DL 71995", "", "DL"])
def test_a_short_reading_that_agrees_or_says_nothing_leaves_the_vote_alone(short: str) -> None:
    ev = _serial("DL 071995", [short, "DL 071995", "DL 071995"])
    assert ev is not None and ev.value == "DL 071995"
    assert ev.check == 0 and confidence_of(ev) >= 0.9


def test_a_serial_whose_letters_ran_into_its_digits_is_read_again_where_it_was_seen() -> None:
    """A photocopy's grey serial read `CTI457159` by the layout pass (a speck as a third letter, the gap
    lost): no value of its own, but its place, where the three readings find `CI 457159`."""
    ev = _serial("CTI457159", ["CI 457159", "CI 457159", "CI 457159"])
    assert ev is not None and ev.value == "CI 457159"
    assert ev.agree == 2 and confidence_of(ev) >= 0.9


def test_a_run_together_number_higher_up_is_no_serial() -> None:
    words = [Word(text="CTI457159", confidence=0.99, box=(1000, 300, 250, 50))]
    t = PageText.of(TextPage.of_lines([Line.of(words)]))
    pg = PageImages(None, np.full((H, W), 255, np.uint8), 1.0, 1.0, ScriptedReader(["CI 457159"] * 3))
    assert read_serial(t, pg, "gcn_2009", H, []) is None


def test_a_serial_both_models_read_beats_the_eng_models_two_readings() -> None:
    """A photocopied serial under a copy stamp (bench gcn --world seed 5, certificate 18): the eng model
    read `AI 850054` at both text sizes, the vie and eng models `AI 850051` on the darkest ink. As many
    readings each: the value two models agree on wins, and the disagreement keeps it below certainty."""
    votes = [
        ("AI 850054", 0.99, "reread_eng"),
        ("AI 850054", 0.99, "reread_eng"),
        ("AI 850051", 1.0, "reread"),
        ("AI 850051", 0.99, "reread_eng"),
    ]
    ev = _vote_serial(None, votes, [], BOX, "gcn_pre2009")
    assert ev.value == "AI 850051"
    assert ev.disagree == 2 and confidence_of(ev) < 0.9
