"""The reader seam: the one way anything in this project gets text out of an image.

Extractors and the imaging stage receive a `Reader` and never call the OCR engine themselves, so the engine
can be swapped (a recorded reader replays what Tesseract once returned, tests/plugins/ocr.py) and every
call is visible in one place. `TesseractReader` is the production one (worker/ocr/tesseract.py binds the
engine). What a reader returns is the element tree of models/elements.py, in the coordinates of the image
passed in, whatever scale it was read at.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np

from models.elements import Line, TextPage, scale_box
from worker.ocr import tesseract


@dataclass(frozen=True)
class ReadOptions:
    """How a region is read: Tesseract's page segmentation mode (3 the full layout analysis, 6 one uniform
    block, 7 one line, 8 one word, 11 sparse text, 13 a raw line), the model, the characters allowed, the
    upscaling factor, and for a character-level read whether the recogniser's alternatives are wanted."""

    psm: int
    lang: str
    whitelist: str | None = None
    scale: float = 1.0
    choices: bool = False


class Reader(ABC):
    """Reads text from images. `lang` is the default model (settings.tesseract_lang); a call may ask for
    another (`eng` for a second opinion on Latin letters and digits, the MRZ). An engine implements
    `read_page`, `read_characters` and `orientation`; callers use `read` and `read_line`."""

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
        """Lines and words with confidences and boxes."""
        return self.read_page(image, ReadOptions(psm, lang or self.lang, whitelist, scale))

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
        return self.read_characters(image, ReadOptions(psm, lang or self.lang, whitelist, scale, choices))

    @abstractmethod
    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage: ...

    @abstractmethod
    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line: ...

    @abstractmethod
    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        """Orientation detection: (degrees clockwise that make the image upright, the detector's own
        confidence score), or None when it has no opinion."""


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


class TesseractReader(Reader):
    """Tesseract `vie` (and `eng`), in-process through tesserocr where it is installed."""

    def __init__(self, lang: str = "vie", *, timeout_s: float = 60.0, line_timeout_s: float = 20.0) -> None:
        self.lang = lang
        self.timeout_s = timeout_s
        self.line_timeout_s = line_timeout_s

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        page = tesseract.read_page(
            prepare(image, scale=options.scale),
            lang=options.lang,
            psm=options.psm,
            whitelist=options.whitelist,
            timeout_s=self.timeout_s,
        )
        return unscaled(page, options.scale)

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        line = tesseract.read_symbols(
            prepare(image, scale=options.scale),
            lang=options.lang,
            psm=options.psm,
            whitelist=options.whitelist,
            choices=options.choices,
            timeout_s=self.line_timeout_s,
        )
        return _unscaled_line(line, 1.0 / options.scale) if options.scale != 1.0 else line

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        return tesseract.osd(image)
