"""Upright or upside down: the 0°/180° half of orientation (the 90° half comes from the text direction).

Two cues from the fitted text lines of Vietnamese/Latin script, both cheap:
- baselines are flatter than top lines (x-height letters, ascenders, capitals and merged diacritics make
  the tops ragged; only a few descenders break the baseline);
- small marks (tone marks, circumflexes, hooks, i-dots) sit above the line far more often than below
  (only the dot below, nặng, sits under it).
When they are weak or disagree, Tesseract's OSD is asked on a small deskewed copy: it costs a Tesseract
call, so it is the exception, not the rule.
"""

from __future__ import annotations

import math
import os

import numpy as np

from worker.imaging.deskew import LineEvidence

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


def osd_flip(grey: np.ndarray, *, timeout_s: float = 10.0) -> tuple[bool, float] | None:
    """Ask Tesseract OSD whether an (already deskewed, already guessed-upright) image is upside down.

    Returns (flip, confidence) or None when OSD has no opinion. OSD's own confidence is a score of a few
    units; it is squashed to 0.5..1 here.
    """
    import pytesseract

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        osd = pytesseract.image_to_osd(grey, output_type=pytesseract.Output.DICT, timeout=timeout_s, config="--psm 0")
    except (pytesseract.TesseractError, RuntimeError):
        return None
    rotate = int(osd.get("rotate", 0)) % 360
    conf = float(osd.get("orientation_conf", 0.0))
    if rotate not in (0, 180) or conf < 1.0:
        return None
    return rotate == 180, float(1.0 / (1.0 + math.exp(-conf / 2.0)))
