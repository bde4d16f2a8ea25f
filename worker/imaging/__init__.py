"""Image stage: load any supported file into pages, then normalise each page for OCR.

Public API (the pipeline calls only these):
    load_pages(data, source, settings=...) -> list[LoadedPage]        raises IntakeError(code)
    normalise_page(page, settings=..., reader=...) -> list[NormalisedPage]   one page may yield several documents
    upright_by_reading(page, layout, read) -> (page, layout)   the last word on up or down: the layout reading's
"""

import os

import cv2

from worker.imaging.load import load_pages
from worker.imaging.normalise import normalise_page
from worker.imaging.orientation import upright_by_reading

# One worker process per core (as Tesseract, see worker/ocr/tesseract.py): OpenCV's thread pool would only
# add synchronisation cost and fight the other workers for the cores. OPENCV_FOR_THREADS_NUM overrides.
if "OPENCV_FOR_THREADS_NUM" not in os.environ:
    cv2.setNumThreads(1)

__all__ = ["load_pages", "normalise_page", "upright_by_reading"]
