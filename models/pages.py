"""In-memory carriers between the image, OCR and extract stages (numpy images, not serialised). What a
reader returns for an image is the element tree of models/elements.py."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class LoadedPage(BaseModel):
    """One raster page as loaded from a file (EXIF orientation already applied)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    source: str
    page: int = Field(ge=1)
    sha256: str
    image: np.ndarray  # BGR uint8, as OpenCV expects
    dpi: float | None = None  # from the file's metadata or the PDF render dpi; None when unknown


class QualityReport(BaseModel):
    score: float = Field(ge=0.0, le=1.0)  # 1 = pristine
    defects: list[str] = Field(default_factory=list)  # e.g. "blurry", "too_dark", "low_resolution"
    metrics: dict[str, float] = Field(default_factory=dict)

    @property
    def blurred(self) -> bool:
        """Blurred all round or along one direction (a shaken phone): either way strokes are spread and
        digits blur into one another."""
        return "blurry" in self.defects or "motion_blur" in self.defects


class NormalisedPage(BaseModel):
    """A document image ready for OCR: upright, deskewed, cropped. Several may come from one LoadedPage."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    source: str
    page: int = Field(ge=1)
    sha256: str
    part: int | None = None  # 1-based piece index when one page held several documents
    kind: Literal["card", "page", "unknown"] = "unknown"
    image: np.ndarray  # colour BGR, kept for the review page and colour-dependent readers
    ocr_image: np.ndarray  # greyscale, cleaned for Tesseract
    orientation_deg: Literal[0, 90, 180, 270] = 0
    orientation_confidence: float = 0.0
    skew_deg: float = 0.0
    quality: QualityReport | None = None
    warnings: list[str] = Field(default_factory=list)
    # where the piece came from in the loaded page: 4 corners TL,TR,BR,BL (for review overlays)
    corners: list[tuple[float, float]] | None = None
