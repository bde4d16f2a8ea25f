"""Upright or upside down: the 0°/180° half of orientation (the 90° half comes from the text direction).
Every cue the project has for it lives here, each asked only when the cheaper ones before it are weak.

Two cues from the fitted text lines of Vietnamese/Latin script, both cheap:
- baselines are flatter than top lines (x-height letters, ascenders, capitals and merged diacritics make
  the tops ragged; only a few descenders break the baseline);
- small marks (tone marks, circumflexes, hooks, i-dots) sit above the line far more often than below
  (only the dot below, nặng, sits under it).
When they are weak or disagree, the reader's orientation detection (Tesseract OSD) is asked on a small
deskewed copy: it costs a Tesseract call, so it is the exception, not the rule. Last, once the page is
upright by those cues, the extract stage's layout pass is the final evidence (`upright_by_reading`): a
page it reads as junk is read turned half round too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from models.elements import TextPage
from models.pages import NormalisedPage
from worker.imaging.deskew import LineEvidence
from worker.ocr.reader import Reader

# below this confidence the cues are not trusted alone
OSD_BELOW = 0.6


def updown_score(ev: LineEvidence) -> float:
    """Signed evidence, > 0 for upright text; roughly ±1 per cue at full strength."""
    line_cue = ev.updown / 0.12 * min(1.0, ev.updown_weight / 40.0)
    mark_cue = ev.marks / 0.4 * min(1.0, ev.marks_count / 25.0)
    return float(np.clip(line_cue, -3, 3) + np.clip(mark_cue, -3, 3))


def confidence(score: float) -> float:
    """Map |score| to 0.5..1 (probability that the chosen half-turn is right), calibrated on the bench set."""
    return float(1.0 / (1.0 + math.exp(-2.0 * abs(score))))


# Photos and scans arrive the right way up far more often than turned half round: none of the 59 real
# captures of the dev set was, while the line cues called 8 of them upside down (scores down to -1.3) and
# OSD 2 of 4 it was asked about. Where the text lies level as captured, only cues this strong turn it and
# OSD is not asked; a page the weaker cues would have turned is left to the layout pass
# (upright_by_reading), which reads it once either way.
AS_CAPTURED_MARGIN = 1.5


def half_turn(score: float, level_as_captured: bool) -> tuple[bool, float, bool]:
    """From the line cues' score: whether to turn the image half round, how sure that is (0.5..1), and
    whether to ask OSD. An image whose text lies level as captured stays as it is unless the cues are
    strong (0.5: the cues leave it to the reading)."""
    if level_as_captured and score > -AS_CAPTURED_MARGIN:
        return False, confidence(score) if score >= 0 else 0.5, False
    conf = confidence(score)
    return score < 0, conf, conf < OSD_BELOW


def osd_flip(grey: np.ndarray, reader: Reader) -> tuple[bool, float] | None:
    """Ask the reader's orientation detection (Tesseract OSD) whether an (already deskewed, already
    guessed-upright) image is upside down.

    Returns (flip, confidence) or None when OSD has no opinion. OSD's own confidence is a score of a few
    units; it is squashed to 0.5..1 here.
    """
    osd = reader.orientation(grey)
    if osd is None:
        return None
    rotate, conf = osd
    if rotate not in (0, 180) or conf < 1.0:
        return None
    return rotate == 180, float(1.0 / (1.0 + math.exp(-conf / 2.0)))


# The last word on up or down is the reading's. The glyph cues above (and OSD) decide it before the page is
# warped; a blurred photo of a page with little text (a sketch page) can turn them against it, and every
# later stage fails on such a page. On an upright page most of the layout pass's words read at >= 0.8
# confidence (0.4-1.0 of them on generated pages, mean 0.6-0.95); an upside-down page reads as junk
# (0.07, mean 0.31). So when the layout pass reads mostly junk, the page is read turned half round too, and
# the reading Tesseract is clearly surer of wins: one more layout pass, on ~1% of pages.
_WEAK_LAYOUT_SHARE = 0.3
_WEAK_LAYOUT_MEAN = 0.5
_TURN_GAIN = 0.15
# a small blurred card (a 400 px crop enlarged to 300 dpi) reads at a mean of ~0.5 with a quarter of its words
# sure even upright, under the share above: turned half round it is taken when its share of sure words gains
# this as well (upside-down print reads ~0.07 sure words whatever the page)
_SHARE_GAIN = 0.15


def _word_stats(text: TextPage) -> tuple[int, float, float]:
    confs = [w.confidence for w in text.words]
    if not confs:
        return 0, 0.0, 0.0
    return len(confs), float(np.mean(confs)), float(np.mean([c >= 0.8 for c in confs]))


def turned_half_round(page: NormalisedPage) -> NormalisedPage:
    """The page turned 180°, with its orientation, corners and warnings to match (`orientation:ocr`)."""

    def half_turn(img: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(img[::-1, ::-1])

    return page.model_copy(
        update={
            "image": half_turn(page.image),
            "ocr_image": half_turn(page.ocr_image),
            "orientation_deg": (page.orientation_deg + 180) % 360,
            "corners": page.corners[2:] + page.corners[:2] if page.corners else page.corners,
            "warnings": [w for w in page.warnings if w != "orientation:low_confidence"] + ["orientation:ocr"],
        }
    )


def upright_by_reading(
    page: NormalisedPage, layout: TextPage, read: Callable[[NormalisedPage], TextPage]
) -> tuple[NormalisedPage, TextPage]:
    """The page and its layout reading, turned half round when the reading shows the page upside down
    (`read` makes the layout pass of a page)."""
    n, mean, share = _word_stats(layout)
    if n < 5 or (share >= _WEAK_LAYOUT_SHARE and mean >= _WEAK_LAYOUT_MEAN):
        return page, layout
    turned = turned_half_round(page)
    again = read(turned)
    _, mean2, share2 = _word_stats(again)
    if mean2 >= mean + _TURN_GAIN and (share2 >= _WEAK_LAYOUT_SHARE or share2 >= share + _SHARE_GAIN):
        return turned, again
    return page, layout
