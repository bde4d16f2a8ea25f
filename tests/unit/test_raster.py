"""worker.raster: the faster labelling, percentile and median give what OpenCV and numpy give, also at their
limits."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from worker.raster import components, median, percentile_u8


def _same_as_opencv(mask: np.ndarray) -> None:
    n, _labels, stats, centroids = components(mask)
    n_cv, _labels_cv, stats_cv, centroids_cv = cv2.connectedComponentsWithStats(mask, connectivity=8)
    assert n == n_cv
    assert np.array_equal(stats, stats_cv)
    assert np.array_equal(centroids[1:], centroids_cv[1:])


def test_components_of_printed_text_match_opencv() -> None:
    page = np.full((300, 500), 255, np.uint8)
    for row in range(8):
        cv2.putText(page, "Giay chung nhan 0123", (10, 30 + row * 35), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 0, 2)
    mask = (page < 128).astype(np.uint8) * 255
    _same_as_opencv(mask)
    assert components(mask)[0] > 100


@pytest.mark.parametrize("shape", [(600, 600), (1300, 1600)])
def test_more_components_than_16_bit_labels_hold(shape: tuple[int, int]) -> None:
    mask = np.zeros(shape, np.uint8)
    mask[::3, ::3] = 255  # one component per dot: 40,000 and 231,000
    _same_as_opencv(mask)


def test_an_empty_mask_has_only_the_background() -> None:
    assert components(np.zeros((40, 40), np.uint8))[0] == 1


def test_percentile_of_8_bit_values_equals_numpys() -> None:
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 7, 100, 301, 5000):
        values = rng.integers(0, 256, n).astype(np.uint8)
        for q in (0.0, 1.0, 2.0, 20.0, 50.0, 97.0, 100.0, float(rng.uniform(0, 100))):
            assert percentile_u8(values, q) == float(np.percentile(values, q))
    page = rng.normal(220, 25, (400, 300)).clip(0, 255).astype(np.uint8)
    assert percentile_u8(page[::7, ::7], 1.0) == float(np.percentile(page[::7, ::7], 1.0))
    assert percentile_u8(page[page < 200], 20) == float(np.percentile(page[page < 200], 20))
    with pytest.raises(ValueError):
        percentile_u8(np.zeros(0, np.uint8), 50)


def test_median_equals_numpys_in_each_dtype() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 4, 31, 32, 200):
        for values in (
            rng.normal(size=n),
            rng.normal(size=n).astype(np.float32),  # the two middle values averaged in float32, as numpy does
            rng.integers(0, 256, n).astype(np.uint8),  # no wrap-around where two large levels are averaged
            rng.integers(-50, 50, n).astype(np.int32),
        ):
            assert median(values) == float(np.median(values))
    assert median([3.0, 1.0]) == 2.0
    assert math.isnan(median(np.array([1.0, np.nan, 2.0])))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        assert math.isnan(median(np.zeros(0)))
