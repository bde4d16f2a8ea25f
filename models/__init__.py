"""Pydantic models shared by every stage: the contracts at the stage boundaries."""

from models.document import (
    DOC_TYPES,
    DocType,
    Document,
    ErrorEntry,
    FieldValue,
    SubmissionResult,
)
from models.errors import ErrorCode, is_permanent
from models.messages import BackfillMessage, QueueMessage, S3EventRecord
from models.proposal import Band, Evidence, Proposal, ProposedUpdate
from models.registry import OwnerRecord, ParcelRecord, RegistryRow
from models.settings import Settings, get_settings

__all__ = [
    "DOC_TYPES",
    "BackfillMessage",
    "Band",
    "DocType",
    "Document",
    "ErrorCode",
    "ErrorEntry",
    "Evidence",
    "FieldValue",
    "OwnerRecord",
    "ParcelRecord",
    "Proposal",
    "ProposedUpdate",
    "QueueMessage",
    "RegistryRow",
    "S3EventRecord",
    "Settings",
    "SubmissionResult",
    "get_settings",
    "is_permanent",
]
