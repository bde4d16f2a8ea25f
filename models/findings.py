"""Submission-level findings: what the checks between the documents of one submission (front against back
of a card, one person's numbers across cards, a certificate's owners against the ID cards) say about them.

A stored Document is what its file read as, written once. The findings are a function of a submission's
stored documents, recomputed at every re-match and stored beside them (table `submission_findings`), so
re-matching a submission any number of times gives what re-matching it once gives. Whoever shows or
matches a submission's documents sees them through `apply_findings`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from models.document import Document, FieldValue

DocumentKey = tuple[str, int, int]  # (sha256 of the file, page, part): a document's identity in a submission


def document_key(doc: Document) -> DocumentKey:
    return (doc.sha256, doc.page, doc.part or 0)


class FieldFinding(BaseModel):
    """A field as the submission's checks leave it (a lower confidence for a contradiction, a higher one and
    another source when an ID card confirms a certificate's owner)."""

    field: str
    owner: int | None = Field(None, description="0-based index into Document.owners; None for Document.fields")
    value: FieldValue


class DocumentFindings(BaseModel):
    sha256: str
    page: int
    part: int = 0
    warnings: list[str] = Field(default_factory=list, description="added to the document's own warnings")
    fields: list[FieldFinding] = Field(default_factory=list)

    @property
    def key(self) -> DocumentKey:
        return (self.sha256, self.page, self.part)


class SubmissionFindings(BaseModel):
    documents: list[DocumentFindings] = Field(default_factory=list)

    def warnings(self) -> list[str]:
        return [w for d in self.documents for w in d.warnings]


def diff_findings(stored: Sequence[Document], checked: Sequence[Document]) -> SubmissionFindings:
    """What the checks changed: `checked` are copies of `stored` (same order) after the submission checks.
    A warning the stored document carries already is not repeated."""
    found: list[DocumentFindings] = []
    for before, after in zip(stored, checked, strict=True):
        warnings = [w for w in dict.fromkeys(after.warnings) if w not in before.warnings]
        fields = [
            FieldFinding(field=name, value=fv) for name, fv in after.fields.items() if before.fields.get(name) != fv
        ]
        for idx, (old, new) in enumerate(zip(before.owners, after.owners, strict=True)):
            fields += [FieldFinding(field=name, owner=idx, value=fv) for name, fv in new.items() if old.get(name) != fv]
        if warnings or fields:
            sha, page, part = document_key(before)
            found.append(DocumentFindings(sha256=sha, page=page, part=part, warnings=warnings, fields=fields))
    return SubmissionFindings(documents=found)


def apply_findings(documents: Sequence[Document], findings: SubmissionFindings | None) -> list[Document]:
    """The documents as the submission's checks see them: copies with the findings applied (the stored
    documents are left as they are)."""
    by_key = {d.key: d for d in findings.documents} if findings else {}
    out: list[Document] = []
    for doc in documents:
        found = by_key.get(document_key(doc))
        if found is None:
            out.append(doc.model_copy(deep=True))
            continue
        copy = doc.model_copy(deep=True)
        copy.warnings += [w for w in found.warnings if w not in copy.warnings]
        for f in found.fields:
            target = copy.fields if f.owner is None else copy.owners[f.owner] if f.owner < len(copy.owners) else None
            if target is not None:
                target[f.field] = f.value.model_copy(deep=True)
        out.append(copy)
    return out
