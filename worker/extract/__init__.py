"""Extract stage: classify each normalised page and pull structured, validated fields out of it.

Public API (the pipeline calls only these):
    read_document(page, settings=..., reader=...) -> Document   OCR + classify + extract + validate one image
    read_page(page, settings=..., reader=...) -> (Document, page)   the same, plus the page as read (turned half
                                                        round when the layout pass showed it upside down)
    cross_check(documents) -> None                      submission-level checks (front vs back, card vs certificate)
    code_print_conflicts(warnings) -> list[str]         the warnings where a QR/MRZ contradicts the print on identity

Inside: document.py dispatches a page to the extractor the registry (registry.py) names for its type:
idcard/ (identity cards) and gcn/ (land-use-right certificates), each one module per part. They share the
page's scan (scan.py), the classifier (classify.py), the visual-line grouper (lines.py), the confidence
model (confidence.py), the validators (validate.py), the name lexicon and place gazetteer (lexicon.py,
places.py), number words (numwords.py) and word lists as data (data/).
"""

from worker.extract.document import cross_check, read_document, read_page
from worker.extract.validate import code_print_conflicts

__all__ = ["code_print_conflicts", "cross_check", "read_document", "read_page"]
