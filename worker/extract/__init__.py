"""Extract stage: classify each normalised page and pull structured, validated fields out of it.

Public API (the pipeline calls only these):
    read_document(page, settings=...) -> Document      OCR + classify + extract + validate one document image
    cross_check(documents) -> None                      submission-level checks (front vs back, card vs certificate)
"""

from worker.extract.document import cross_check, read_document

__all__ = ["cross_check", "read_document"]
