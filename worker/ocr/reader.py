"""The reader seam: the one way anything in this project gets text out of an image.

Extractors and the imaging stage receive a `Reader` and never call the OCR engine themselves, so the engine
can be swapped (a recorded reader replays what Tesseract once returned, tests/plugins/ocr.py) and every
call is visible in one place. `TesseractReader` is the production one (worker/ocr/tesseract.py binds the
engine). What a reader returns is the element tree of models/elements.py, in the coordinates of the image
passed in, whatever scale it was read at.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from models.elements import Line, TextPage, scale_box
from worker.ocr import tesseract


class Reader(Protocol):
    """Reads text from images. `lang` is the default model (settings.tesseract_lang); a call may ask for
    another (`eng` for a second opinion on Latin letters and digits, the MRZ)."""

    lang: str

    def read(
        self,
        image: np.ndarray,
        *,
        psm: int = 6,
        lang: str | None = None,
        whitelist: str | None = None,
        scale: float = 1.0,
    ) -> TextPage:
        """Lines and words with confidences and boxes (psm: Tesseract's page segmentation mode; 3 is the
        full layout analysis, 6 one uniform block, 11 sparse text)."""
        ...

    def read_line(
        self,
        image: np.ndarray,
        *,
        psm: int = 7,
        lang: str | None = None,
        whitelist: str | None = None,
        scale: float = 1.0,
        choices: bool = False,
    ) -> Line:
        """One line (or a small block, psm 6) with per-character confidences and, with `choices`, the
        recogniser's alternatives per character."""
        ...

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        """Orientation detection: (degrees clockwise that make the image upright, the detector's own
        confidence score), or None when it has no opinion."""
        ...


def prepare(image: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """Greyscale, optionally upscaled (cubic): small text reads better at ~30 px cap height."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return image


def unscaled(page: TextPage, scale: float) -> TextPage:
    """Boxes read on an upscaled copy, back in the coordinates of the image passed in."""
    if scale == 1.0:
        return page
    f = 1.0 / scale
    return page.model_copy(
        update={
            "blocks": [
                block.model_copy(update={"lines": [_unscaled_line(line, f) for line in block.lines]})
                for block in page.blocks
            ]
        }
    )


def _unscaled_line(line: Line, f: float) -> Line:
    return line.model_copy(
        update={
            "box": scale_box(line.box, f),
            "words": [w.model_copy(update={"box": scale_box(w.box, f)}) for w in line.words],
        }
    )


class TesseractReader:
    """Tesseract `vie` (and `eng`), in-process through tesserocr where it is installed."""

    def __init__(self, lang: str = "vie", *, timeout_s: float = 60.0, line_timeout_s: float = 20.0) -> None:
        self.lang = lang
        self.timeout_s = timeout_s
        self.line_timeout_s = line_timeout_s

    def read(
        self,
        image: np.ndarray,
        *,
        psm: int = 6,
        lang: str | None = None,
        whitelist: str | None = None,
        scale: float = 1.0,
    ) -> TextPage:
        page = tesseract.read_page(
            prepare(image, scale=scale), lang=lang or self.lang, psm=psm, whitelist=whitelist, timeout_s=self.timeout_s
        )
        return unscaled(page, scale)

    def read_line(
        self,
        image: np.ndarray,
        *,
        psm: int = 7,
        lang: str | None = None,
        whitelist: str | None = None,
        scale: float = 1.0,
        choices: bool = False,
    ) -> Line:
        line = tesseract.read_symbols(
            prepare(image, scale=scale),
            lang=lang or self.lang,
            psm=psm,
            whitelist=whitelist,
            choices=choices,
            timeout_s=self.line_timeout_s,
        )
        return _unscaled_line(line, 1.0 / scale) if scale != 1.0 else line

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        return tesseract.osd(image)
