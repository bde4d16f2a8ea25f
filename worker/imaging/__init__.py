"""Image stage: load any supported file into pages, then normalise each page for OCR.

Public API (the pipeline calls only these):
    load_pages(data, source, settings=...) -> list[LoadedPage]        raises IntakeError(code)
    normalise_page(page, settings=...) -> list[NormalisedPage]        one page may yield several documents
"""

from worker.imaging.load import load_pages
from worker.imaging.normalise import normalise_page

__all__ = ["load_pages", "normalise_page"]
