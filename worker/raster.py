"""Raster primitives shared by the imaging and extraction stages.

Only what both stages call and what must behave identically in both: a faster drop-in for OpenCV calls
whose default form costs more than it needs to.
"""

from __future__ import annotations

import cv2
import numpy as np


def components(mask: np.ndarray, connectivity: int = 8) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """`cv2.connectedComponentsWithStats`: (count, labels, stats, centroids) with the same count, stats and
    centroids; the labels image is 16-bit when the components fit.

    16-bit labels are tried first: OpenCV's labelling with stats runs about three times faster with them
    (8 ms against 23-25 ms on a 1600×2250 page mask, one thread). A mask with more components than they
    hold (noise) makes OpenCV stop early with an error, and the 32-bit labelling runs instead.
    """
    try:
        return cv2.connectedComponentsWithStatsWithAlgorithm(mask, connectivity, cv2.CV_16U, cv2.CCL_DEFAULT)
    except cv2.error:
        pass
    return cv2.connectedComponentsWithStats(mask, connectivity=connectivity)
