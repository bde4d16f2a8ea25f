"""The OCR clean-up's seal lift, worked in place: the same image as the formula it replaced."""

from __future__ import annotations

import cv2
import numpy as np

from worker.imaging import cleanup


def _stamped_page() -> np.ndarray:
    page = np.full((900, 1200, 3), 235, np.uint8)
    for row in range(12):
        cv2.putText(page, "Ho va ten 0123 NGUYEN", (60, 80 + 60 * row), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (30, 30, 30), 2)
    cv2.circle(page, (600, 450), 160, (40, 40, 210), 14)  # a red ring stamped over the print
    cv2.putText(page, "UBND", (520, 460), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (40, 40, 210), 3)
    return page


def test_inside_a_seal_the_red_channel_replaces_the_luminance_and_nothing_else_changes() -> None:
    page = _stamped_page()
    glyph_h = 22.0
    seals = cleanup.seal_mask(page, glyph_h)
    assert seals.any()
    grey = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    lifted = np.where(seals > 0, cv2.max(grey, page[:, :, 2]), grey).astype(np.uint8)
    window = int(max(31, 3 * glyph_h))
    paper = np.maximum(cleanup.background(lifted, window), 1)
    norm = cv2.divide(lifted, paper, scale=255.0)
    dark = min(cleanup.percentile_u8(norm[::7, ::7], 1.0) / 255.0, 0.55)
    expected = cleanup.soft_ramp(norm, dark, 0.80)
    before = page.copy()
    assert np.array_equal(cleanup.clean_for_ocr(page, glyph_h), expected)
    assert np.array_equal(page, before)  # the colour image is only read
