"""An owner's name whose two readings agree on a tone mark the recogniser itself doubted (issue 16, real
captures II): the spelling read is kept, but never at a confidence the letters' alternatives deny. The
readings are written out as the recogniser reports them (per-letter alternatives), no engine runs."""

from __future__ import annotations

from models.elements import Symbol, Word
from worker.extract import lexicon
from worker.extract.gcn.evidence import OWNER, Evidence, confidence_of
from worker.extract.gcn.owners import _lexicon_name, _name_text, settle_name, weigh_name_reread


def _word(text: str, doubted: dict[int, list[tuple[str, float]]] | None = None) -> Word:
    symbols = [Symbol(text=c, confidence=0.97, choices=[(c, 0.97)]) for c in text]
    for i, choices in (doubted or {}).items():
        symbols[i] = Symbol(text=choices[0][0], confidence=choices[0][1], choices=choices)
    return Word(text=text, confidence=0.9, symbols=symbols)


def _name_evidence(read: str, reread_words: list[Word]) -> Evidence:
    """What the owner reader concludes from a layout reading and an own-region re-read of one name."""
    ev = Evidence(OWNER + "full_name", read, (0, 0, 100, 20), ["ocr"], 0.9, 0.85)
    lay = _lexicon_name(read.split())
    corrected = lexicon.correct_reading(reread_words, _name_text)
    assert corrected is not None
    again = (corrected.text, corrected.posterior, corrected.unknown, corrected.read)
    settle_name(ev, weigh_name_reread(ev, read, lay, again, 0.95, lay[1]))
    return ev


def test_a_tone_mark_the_recogniser_doubted_keeps_the_name_below_certainty() -> None:
    # both readings saw Ă where the letter's alternatives also list Ặ, the far commoner surname spelling
    doubted = {1: [("Ă", 0.55), ("Ặ", 0.4)]}
    ev = _name_evidence("ĐĂNG THỊ BÍCH", [_word("ĐĂNG", doubted), _word("THỊ"), _word("BÍCH")])
    assert ev.value == "ĐĂNG THỊ BÍCH"  # two readings that agree on the marks are not overruled
    assert ev.disagree == 1
    assert confidence_of(ev) < 0.9


def test_a_name_both_readings_and_the_alternatives_agree_on_stays_certain() -> None:
    ev = _name_evidence("ĐẶNG THỊ BÍCH", [_word("ĐẶNG"), _word("THỊ"), _word("BÍCH")])
    assert ev.value == "ĐẶNG THỊ BÍCH"
    assert (ev.agree, ev.disagree, ev.check) == (1, 0, 1)
    assert confidence_of(ev) >= 0.9


def test_two_readings_giving_two_known_names_hold_the_name_for_review() -> None:
    # `bench gcn --world --n 120 --seed 1023`: a clean page's `TIỄN` read so by the layout pass and `TIẾN`
    # by the re-read; the lexicon's liking for the commoner name took the re-read's, at 0.98
    ev = _name_evidence("NGUYỄN VĂN TIỄN", [_word("NGUYỄN"), _word("VĂN"), _word("TIẾN")])
    assert ev.value == "NGUYỄN VĂN TIẾN"
    assert ev.doubtful and ev.disagree == 1
    assert confidence_of(ev) < 0.9
