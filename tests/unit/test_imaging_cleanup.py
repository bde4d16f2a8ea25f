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


def test_a_blurred_pages_strokes_keep_their_grey_spread_where_a_sharp_pages_turn_white() -> None:
    # a phone's motion blur spreads each stroke into a halo lighter than 80 % of the paper: the sharp page's
    # white point erases the halo and leaves the heavy strokes as blobs; the blurred page's keeps it grey
    page = np.full((400, 900, 3), 240, np.uint8)
    cv2.putText(page, "Thoi han su dung", (40, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 1)
    blurred = cv2.GaussianBlur(page, (0, 0), 2.5)
    line = (slice(60, 160), slice(30, 500))
    sharp_point = cleanup.clean_for_ocr(blurred, 30.0)[line]
    blurred_point = cleanup.clean_for_ocr(blurred, 30.0, blurred=True)[line]
    assert int((blurred_point < 250).sum()) > 1.3 * int((sharp_point < 250).sum())
    # the ink itself stays as dark as before: only what lies between stroke and paper changed
    assert int((blurred_point < 128).sum()) >= int((sharp_point < 128).sum())
