"""What the match stage produces for review."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Band = Literal["auto_accept", "review", "unlikely"]


def band_for(confidence: float, auto_accept: float, review: float) -> Band:
    """The review band of a match confidence under the (auto-accept, review) thresholds: the policy the
    matcher applies and the review queue reads back."""
    if confidence >= auto_accept:
        return "auto_accept"
    if confidence >= review:
        return "review"
    return "unlikely"


class Evidence(BaseModel):
    field: str
    scanned: Any = None
    record: Any = None
    # comparison level, e.g. "exact", "exact_no_diacritics", "fuzzy", "differs", "missing"
    agreement: str
    # log2 Bayes factor this comparison contributed
    weight: float


class ProposedUpdate(BaseModel):
    field: str
    record_value: Any = None
    scanned_value: Any = None
    owner_index: int | None = None
    reason: str | None = None


class Proposal(BaseModel):
    parcel_id: str
    confidence: float = Field(ge=0.0, le=1.0)
    band: Band
    evidence: list[Evidence] = Field(default_factory=list)
    proposed_updates: list[ProposedUpdate] = Field(default_factory=list)
    # which owner on the parcel the ID card / certificate owner line matched (registry owner key)
    owner_id: str | None = None
    owner_name: str | None = None
    match_weight: float | None = None
    model_version: str | None = None
    notes: list[str] = Field(default_factory=list)
