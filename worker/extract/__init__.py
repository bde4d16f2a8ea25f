"""Extract stage: classify each normalised page and pull structured, validated fields out of it.

Public API (the pipeline calls only these):
    read_document(page, settings=...) -> Document      OCR + classify + extract + validate one document image
    read_page(page, settings=...) -> (Document, page)   the same, plus the page as read (turned half round when
                                                        the layout pass showed it upside down)
    cross_check(documents) -> None                      submission-level checks (front vs back, card vs certificate)
"""

from worker.extract.document import cross_check, read_document, read_page

__all__ = ["cross_check", "read_document", "read_page"]
