"""Upright or upside down: the 0°/180° half of orientation (the 90° half comes from the text direction).

Two cues from the fitted text lines of Vietnamese/Latin script, both cheap:
- baselines are flatter than top lines (x-height letters, ascenders, capitals and merged diacritics make
  the tops ragged; only a few descenders break the baseline);
- small marks (tone marks, circumflexes, hooks, i-dots) sit above the line far more often than below
  (only the dot below, nặng, sits under it).
When they are weak or disagree, the reader's orientation detection (Tesseract OSD) is asked on a small deskewed copy: it costs a Tesseract
call, so it is the exception, not the rule.
"""

from __future__ import annotations

import math

import numpy as np

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
