"""Extract stage: classify each normalised page and pull structured, validated fields out of it.

Public API (the pipeline calls only these):
    read_document(page, settings=...) -> Document      OCR + classify + extract + validate one document image
    read_page(page, settings=...) -> (Document, page)   the same, plus the page as read (turned half round when
                                                        the layout pass showed it upside down)
    cross_check(documents) -> None                      submission-level checks (front vs back, card vs certificate)
    code_print_conflicts(warnings) -> list[str]         the warnings where a QR/MRZ contradicts the print on identity
    checked(document) -> Document                       values that cannot be of their field's type dropped
"""

from __future__ import annotations

from models.document import Document
from models.pages import NormalisedPage
from models.settings import Settings
from worker.extract import document
from worker.extract.document import cross_check
from worker.extract.validate import code_print_conflicts, enforce_field_types


def read_page(page: NormalisedPage, *, settings: Settings | None = None) -> tuple[Document, NormalisedPage]:
    doc, read = document.read_page(page, settings=settings)
    checked(doc)
    return doc, read


def read_document(page: NormalisedPage, *, settings: Settings | None = None) -> Document:
    return read_page(page, settings=settings)[0]


def checked(doc: Document) -> Document:
    """Every value validated against its field's type (a name is letters; markup never passes), owners too."""
    enforce_field_types(doc.fields, doc.warnings)
    for owner in doc.owners:
        enforce_field_types(owner, doc.warnings)
    return doc


__all__ = ["checked", "code_print_conflicts", "cross_check", "read_document", "read_page"]
