"""The extractor registry: which reader reads which document type.

An extractor declares the document types it reads (`doc_types`), fills a Document from a page's scan
(`extract`, returning the evidence behind each confidence) and checks the documents of one submission
against each other (`cross_check`). The dispatcher (document.py) asks `extractor_for` after classifying a
page; a new document family is one more entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from models.document import Document
from worker.extract.classify import Classification
from worker.extract.gcn import CertificateExtractor
from worker.extract.idcard import IdCardExtractor
from worker.extract.scan import PageScan


class Extractor(Protocol):
    doc_types: frozenset[str]

    def extract(self, scan: PageScan, doc: Document, classification: Classification) -> Mapping[str, object]:
        """Fill `doc` (fields, owners, warnings, a refined type and confidence) from the scanned page."""
        ...

    def cross_check(self, documents: list[Document]) -> None:
        """Submission-level checks; warnings naming both values, and lower confidences, on the documents."""
        ...


# the order their submission checks run in (each touches only its own documents)
EXTRACTORS: tuple[Extractor, ...] = (CertificateExtractor(), IdCardExtractor())


def extractor_for(doc_type: str) -> Extractor | None:
    return next((e for e in EXTRACTORS if doc_type in e.doc_types), None)


def cross_check(documents: list[Document]) -> None:
    for extractor in EXTRACTORS:
        extractor.cross_check(documents)
