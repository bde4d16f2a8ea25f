"""One document image as the extract stage works on it, with the work every reader shares done once: the
layout pass (the only full-image OCR of the page), the decoding of its QR codes and barcodes, the grey
image the reader reads fields from, and every region read (a region read again the same way gets the
first answer). Extractors take what they need from the scan instead of reading or decoding again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.document import Document
from models.elements import Line, TextPage
from models.pages import NormalisedPage
from worker.imaging.cleanup import all_ink_for_ocr
from worker.ocr import DecodedCode, Reader, ReadOptions, decode_codes


def page_document(page: NormalisedPage) -> Document:
    """The Document a page becomes before any reader fills it: where it came from, how it was turned, what
    the imaging stage noticed."""
    return Document(
        source=page.source,
        page=page.page,
        sha256=page.sha256,
        part=page.part,
        orientation_deg=page.orientation_deg,
        skew_deg=page.skew_deg,
        warnings=list(page.warnings),
        quality_score=page.quality.score if page.quality else None,
    )


def grey_of(page: NormalisedPage) -> np.ndarray:
    return page.ocr_image if page.ocr_image.ndim == 2 else cv2.cvtColor(page.ocr_image, cv2.COLOR_BGR2GRAY)


class OnceReader(Reader):
    """A page's reader that reads the same pixels the same way only once: a reader that meets a region
    again (a field's line found again by a second layout pass) gets the first answer back."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.lang = reader.lang
        self._pages: dict[tuple[object, ...], TextPage] = {}
        self._lines: dict[tuple[object, ...], Line] = {}

    @staticmethod
    def _key(image: np.ndarray, options: ReadOptions) -> tuple[object, ...]:
        image = np.ascontiguousarray(image)
        return (options, image.shape, image.dtype.str, hashlib.blake2b(image.data, digest_size=16).digest())

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        key = self._key(image, options)
        if key not in self._pages:
            self._pages[key] = self.reader.read_page(image, options)
        return self._pages[key]

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        key = self._key(image, options)
        if key not in self._lines:
            self._lines[key] = self.reader.read_characters(image, options)
        return self._lines[key]

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        return self.reader.orientation(image)


@dataclass
class PageScan:
    page: NormalisedPage
    reader: Reader
    layout: TextPage
    grey: np.ndarray
    # a card back's issuer region read without its seal, when classifying the page needed it
    issuer_text: str | None = None
    # the page's codes, decoded on first use (None: not yet); regions decoded on their own before that
    _codes: list[DecodedCode] | None = field(default=None, repr=False)
    _qr_regions: dict[tuple[float, float], list[DecodedCode]] = field(default_factory=dict, repr=False)
    _searched_harder: bool = field(default=False, repr=False)
    _ink_layout: TextPage | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.reader, OnceReader):
            self.reader = OnceReader(self.reader)

    @classmethod
    def of(cls, page: NormalisedPage, reader: Reader, layout: TextPage | None = None) -> PageScan:
        """The scan of a page; `layout` is the layout pass when it was made already (else it is made here)."""
        grey = grey_of(page)
        return cls(page, reader, layout if layout is not None else reader.read(grey, psm=3), grey)

    @property
    def colour(self) -> np.ndarray:
        """The colour image codes are decoded from (and colour-dependent readers read)."""
        return self.page.image

    def ink_layout(self) -> TextPage:
        """The page read again with every ink dark and at a reduced size (imaging.cleanup.all_ink_for_ocr), made
        once, on request: the second look of a page whose layout pass found no document's words. Its boxes
        are in that reduced image's coordinates: it names the page, fields are read from the layout pass."""
        if self._ink_layout is None:
            self._ink_layout = self.reader.read(all_ink_for_ocr(self.page.image), psm=3)
        return self._ink_layout

    @property
    def codes_decoded(self) -> bool:
        return self._codes is not None

    def codes(self) -> list[DecodedCode]:
        """Every QR code and barcode on the page (one quick pass over the whole image, made once)."""
        if self._codes is None:
            self._codes = decode_codes(self.colour)
        return self._codes

    def qr_codes_in(self, right: float, bottom: float) -> list[DecodedCode]:
        """QR codes in the page's top-left corner up to `right` and `bottom` (fractions of its width and
        height), in page coordinates. When the whole page was decoded, its codes there; else only that
        corner is decoded (a corner costs a quarter of the page), and remembered."""
        h, w = self.colour.shape[:2]
        x1, y1 = int(w * right), int(h * bottom)
        if self._codes is not None:
            inside = [
                c
                for c in self._codes
                if c.format == "QRCode" and c.corners and all(x <= x1 and y <= y1 for x, y in c.corners)
            ]
            if inside:
                return inside
        key = (right, bottom)
        if key not in self._qr_regions:
            found = decode_codes(self.colour[:y1, :x1], qr_only=True)
            self._qr_regions[key] = [c for c in found if c.format == "QRCode"]
        return self._qr_regions[key]

    def search_qr_harder(self) -> list[DecodedCode]:
        """A page that should carry a QR the quick pass missed (blur, a tilt left over): rotations, inverted
        codes, OpenCV's detector and a 2x copy (~0.5 s), once. The codes found join the page's."""
        codes = self.codes()
        if not self._searched_harder:
            self._searched_harder = True
            codes += decode_codes(self.colour, qr_only=True, thorough=True)
        return codes
