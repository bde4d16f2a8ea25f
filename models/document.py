"""What the read stages produce: one Document per page (or per card cut from a page)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

DocType = Literal[
    "cccd_front", "cccd_back", "cmnd_front", "cmnd_back", "gcn_page1", "gcn_page2", "gcn_other", "unknown"
]
DOC_TYPES: tuple[str, ...] = (
    "cccd_front",
    "cccd_back",
    "cmnd_front",
    "cmnd_back",
    "gcn_page1",
    "gcn_page2",
    "gcn_other",
    "unknown",
)


class FieldValue(BaseModel):
    value: Any = None
    confidence: float = Field(0.0, ge=0.0, le=1.0)
    # where on the normalised page image the value was read: [x, y, width, height] in pixels
    box: list[int] | None = None
    # which readers produced it (e.g. "ocr", "mrz", "qr"); lets review explain a confidence
    sources: list[str] = Field(default_factory=list)


class Document(BaseModel):
    source: str
    page: int = Field(1, ge=1, description="1-based page within the source file")
    sha256: str = Field(description="sha256 of the original file bytes")
    doc_type: DocType = "unknown"
    doc_type_confidence: float = Field(0.0, ge=0.0, le=1.0)
    orientation_deg: Literal[0, 90, 180, 270] = 0
    skew_deg: float = 0.0
    fields: dict[str, FieldValue] = Field(default_factory=dict)
    owners: list[dict[str, FieldValue]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    # a page cut into several documents (two cards on one photocopy): 1-based index of this piece
    part: int | None = None
    quality_score: float | None = Field(None, ge=0.0, le=1.0)

    def value(self, name: str) -> Any:
        fv = self.fields.get(name)
        return fv.value if fv is not None else None


class ErrorEntry(BaseModel):
    source: str
    code: str
    message: str


class SubmissionResult(BaseModel):
    submission_id: str
    documents: list[Document] = Field(default_factory=list)
    proposals: list[Any] = Field(default_factory=list)  # list[Proposal]; Any avoids an import cycle
    errors: list[ErrorEntry] = Field(default_factory=list)
