"""Scan images for the item page: the normalised page the fields were read from (boxes line up), else the
original file (rendered to JPEG when a browser cannot show it, e.g. PDF or TIFF)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
from sqlalchemy.orm import Session

from models.settings import Settings
from worker.review.errors import ReviewError
from worker.store.results import DocumentRow, SourceObjectRow

BROWSER_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
MAX_SIDE = 2400


def _inside(base: Path, candidate: Path) -> bool:
    try:
        candidate.resolve().relative_to(base.resolve())
    except ValueError:
        return False
    return True


def _read_local(settings: Settings, key: str, base: Path) -> bytes | None:
    path = Path(key)
    if not path.is_absolute():
        path = base / key
    # keys come from the database, but a path escaping the data folders must never be served
    allowed = [Path(settings.data_dir), Path(settings.resolved_inbox_dir)]
    if not any(_inside(b, path) for b in allowed) or not path.is_file():
        return None
    return path.read_bytes()


def _read_derived(settings: Settings, s3_client: Callable[[], Any], image_key: str) -> bytes | None:
    """Through the intake stage's reader when it is installed (it knows where the worker put them)."""
    try:
        # here, not at the top: the intake stage brings the OCR pipeline into the app, needed only for images
        from worker import intake
    except ImportError:
        intake = None  # type: ignore[assignment]
    if intake is not None:
        try:
            return intake.read_derived(image_key, settings)
        except Exception:
            pass  # fall through to the direct readers below
    if image_key.startswith("s3://"):
        bucket, _, key = image_key[5:].partition("/")
        return _read_s3(s3_client, bucket, key)
    data = _read_local(settings, image_key, Path(settings.data_dir))
    if data is None and settings.bucket:
        data = _read_s3(s3_client, settings.bucket, image_key)
    return data


def _read_s3(s3_client: Callable[[], Any], bucket: str, key: str) -> bytes | None:
    try:
        obj = s3_client().get_object(Bucket=bucket, Key=key)
    except Exception:
        return None
    return bytes(obj["Body"].read())


def _as_browser_image(data: bytes, source: str, page: int, settings: Settings) -> tuple[bytes, str]:
    suffix = Path(source).suffix.lower()
    if suffix in BROWSER_TYPES:
        return data, BROWSER_TYPES[suffix]
    # the image stage's public API renders PDF/TIFF pages the way the worker did; imported here, as it brings
    # Tesseract and sets OpenCV's threads for the whole process
    from worker import imaging

    pages = imaging.load_pages(data, source, settings=settings)
    chosen = next((p for p in pages if p.page == page), pages[0] if pages else None)
    if chosen is None:
        raise ReviewError("no_image", 404)
    image = chosen.image
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ReviewError("no_image", 404)
    return buf.tobytes(), "image/jpeg"


def document_image(
    session: Session, settings: Settings, s3_client: Callable[[], Any], document_id: int, submission_id: str
) -> tuple[bytes, str]:
    row = session.get(DocumentRow, document_id)
    if row is None or row.submission_id != submission_id:
        raise ReviewError("not_found", 404)
    if row.image_key:
        data = _read_derived(settings, s3_client, row.image_key)
        if data is not None:
            return _as_browser_image(data, row.image_key, 1, settings)
    if row.source_object_id is not None:
        src = session.get(SourceObjectRow, row.source_object_id)
        if src is not None:
            if src.bucket:
                data = _read_s3(s3_client, src.bucket, src.key)
            else:  # still in the inbox, or already moved to the archive by the inbox watcher
                data = _read_local(settings, src.key, Path(settings.resolved_inbox_dir)) or _read_local(
                    settings, src.key, Path(settings.data_dir) / "archive"
                )
            if data is not None:
                return _as_browser_image(data, src.key, row.page, settings)
    raise ReviewError("no_image", 404)
