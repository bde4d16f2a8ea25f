"""Rendered documents handed to the readers as the image stage hands on a page."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from models.pages import NormalisedPage


def rendered_page(img: Image.Image, kind: str = "card") -> NormalisedPage:
    """A render (already upright and cut out) as a normalised page: BGR, with its greyscale OCR copy."""
    bgr = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)
    return NormalisedPage(
        source="synthetic.png", page=1, sha256="0" * 64, kind=kind, image=bgr,
        ocr_image=cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
    )  # fmt: skip
