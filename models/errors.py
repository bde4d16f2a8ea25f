"""Stable error codes. Like OCRmyPDF's exit codes, these never change meaning once released:
operators grep logs and dashboards for them, and the DLQ tooling decides retry vs. give up on them."""

from enum import StrEnum


class ErrorCode(StrEnum):
    # permanent: the input itself is bad; retrying cannot help, the message is acknowledged
    EMPTY_FILE = "empty_file"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT_IMAGE = "corrupt_image"
    CORRUPT_PDF = "corrupt_pdf"
    ENCRYPTED_PDF = "encrypted_pdf"
    IMAGE_TOO_LARGE = "image_too_large"  # decompression bomb or absurd pixel count
    FILE_TOO_LARGE = "file_too_large"  # byte size over the configured limit
    TOO_MANY_PAGES = "too_many_pages"
    UNREADABLE = "unreadable"  # loaded, but nothing could be read from it
    SOURCE_MISSING = "source_missing"  # the object/file was deleted before it could be read
    BAD_MESSAGE = "bad_message"  # a queue message that is neither an S3 event nor our envelope
    # transient: infrastructure trouble; back off and retry, then dead-letter
    STORAGE_UNAVAILABLE = "storage_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    OCR_ENGINE_FAILED = "ocr_engine_failed"
    TIMEOUT = "timeout"
    FILE_INCOMPLETE = "file_incomplete"  # an inbox file that does not decode yet and changed moments ago
    INTERNAL = "internal_error"  # a bug: recorded with its traceback, retried, then dead-lettered


PERMANENT_CODES = frozenset(
    {
        ErrorCode.EMPTY_FILE,
        ErrorCode.UNSUPPORTED_FORMAT,
        ErrorCode.CORRUPT_IMAGE,
        ErrorCode.CORRUPT_PDF,
        ErrorCode.ENCRYPTED_PDF,
        ErrorCode.IMAGE_TOO_LARGE,
        ErrorCode.FILE_TOO_LARGE,
        ErrorCode.TOO_MANY_PAGES,
        ErrorCode.UNREADABLE,
        ErrorCode.SOURCE_MISSING,
        ErrorCode.BAD_MESSAGE,
    }
)


def is_permanent(code: ErrorCode | str) -> bool:
    return ErrorCode(code) in PERMANENT_CODES
