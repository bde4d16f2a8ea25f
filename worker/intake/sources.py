"""Where scans come from and where derived images go: an S3-compatible bucket, or the local inbox folder.

The inbox: clerks copy files into ``<inbox>/<submission>/...``. The watcher takes a file only once it has
stopped changing (same size and mtime for ``settle_s``), enqueues it (identity: its path and sha256), and
then moves it into ``<data_dir>/archive/`` keeping the relative path. Enqueue-then-move means a crash in
between only enqueues the file again on restart, which the worker deduplicates; move-then-enqueue could lose it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from models.errors import ErrorCode
from models.messages import QueueMessage
from models.settings import Settings
from worker.errors import IntakeError
from worker.intake.events import WorkItem
from worker.store.submissions import object_job_id, object_version

log = logging.getLogger(__name__)

# names editors and copy tools use while a file is still being written
_TEMP_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".filepart", ".swp", "~")


@dataclass
class Fetched:
    data: bytes
    sha256: str
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None


class ObjectStore(Protocol):
    origin: str  # "s3" | "inbox"

    def fetch(self, item: WorkItem, *, max_bytes: int) -> Fetched: ...
    def put_derived(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str: ...
    def read_derived(self, image_key: str) -> bytes: ...
    def ping(self) -> None: ...


def _too_large(display: str, size: int, max_bytes: int) -> IntakeError:
    return IntakeError(
        ErrorCode.FILE_TOO_LARGE, f"{display}: {size} bytes is over the {max_bytes}-byte limit (INTAKE_MAX_FILE_BYTES)"
    )


# ------------------------------------------------------------------------------------------- S3


_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket"})


class S3Store:
    """Originals stay where clerks put them; derived images go to ``derived_prefix`` in ``bucket``."""

    origin = "s3"

    def __init__(self, bucket: str, *, derived_prefix: str = "derived/", client: Any = None) -> None:
        from botocore.config import Config

        from worker import aws

        self.bucket = bucket
        self.derived_prefix = derived_prefix
        config = Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 4})
        self.client = client or aws.client("s3", config=config)

    def _error(self, display: str, exc: Exception) -> IntakeError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                return IntakeError(ErrorCode.SOURCE_MISSING, f"{display}: the object no longer exists ({code})")
        return IntakeError(ErrorCode.STORAGE_UNAVAILABLE, f"{display}: {type(exc).__name__}: {exc}")

    def fetch(self, item: WorkItem, *, max_bytes: int) -> Fetched:
        bucket = item.bucket or self.bucket
        display = f"s3://{bucket}/{item.key}"
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": item.key}
        if item.version_id and item.version_id != "null":
            kwargs["VersionId"] = item.version_id
        try:
            if item.size is None or item.size > max_bytes:
                head = self.client.head_object(**kwargs)
                if int(head["ContentLength"]) > max_bytes:
                    raise _too_large(display, int(head["ContentLength"]), max_bytes)
            resp = self.client.get_object(**kwargs)
            length = int(resp.get("ContentLength") or 0)
            if length > max_bytes:  # replaced between head and get
                resp["Body"].close()
                raise _too_large(display, length, max_bytes)
            data = resp["Body"].read()
        except IntakeError:
            raise
        except Exception as exc:
            raise self._error(display, exc) from exc
        etag = resp.get("ETag")
        return Fetched(
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            etag=etag.strip('"') if etag else item.etag,
            version_id=resp.get("VersionId") or item.version_id,
            size=len(data),
        )

    def ping(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._error(f"s3://{self.bucket}", exc) from exc

    def put_derived(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        key = f"{self.derived_prefix}{name}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except Exception as exc:
            raise self._error(f"s3://{self.bucket}/{key}", exc) from exc
        return f"s3://{self.bucket}/{key}"

    def read_derived(self, image_key: str) -> bytes:
        bucket, key = _split_s3(image_key, self.bucket)
        try:
            return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise self._error(image_key, exc) from exc


def _split_s3(image_key: str, default_bucket: str) -> tuple[str, str]:
    if image_key.startswith("s3://"):
        bucket, _, key = image_key[5:].partition("/")
        return bucket, key
    return default_bucket, image_key


# ------------------------------------------------------------------------------------------- inbox


def archived_name(key: str, sha256: str) -> str:
    """Where a second, different file dropped under an already archived name is kept."""
    path = PurePosixPath(key)
    return str(path.with_name(f"{path.stem}.{sha256[:12]}{path.suffix}"))


class InboxStore:
    """Originals are read from the archive (or the inbox, if the watcher has not moved them yet);
    derived images go to ``<data_dir>/derived``; image keys are paths relative to the data directory."""

    origin = "inbox"

    def __init__(self, inbox: Path, archive: Path, data_dir: Path) -> None:
        self.inbox = inbox
        self.archive = archive
        self.data_dir = data_dir

    def _candidates(self, key: str, sha256: str | None) -> list[Path]:
        paths = [self.archive / key]
        if sha256:
            paths.append(self.archive / archived_name(key, sha256))
        paths.append(self.inbox / key)
        return paths

    def fetch(self, item: WorkItem, *, max_bytes: int) -> Fetched:
        wanted = item.version_id.removeprefix("sha256:") if item.version_id else None
        # twice: the watcher may move the file from the inbox to the archive between our two looks
        for _ in range(2):
            for path in self._candidates(item.key, wanted):
                try:
                    size = path.stat().st_size
                    if size > max_bytes:
                        raise _too_large(item.key, size, max_bytes)
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                except IntakeError:
                    raise
                except OSError as exc:
                    raise IntakeError(ErrorCode.STORAGE_UNAVAILABLE, f"{item.key}: {exc}") from exc
                sha = hashlib.sha256(data).hexdigest()
                if wanted and sha != wanted:
                    continue  # another file now has this name; the one we were asked for is elsewhere
                return Fetched(data=data, sha256=sha, size=len(data), version_id=item.version_id)
        raise IntakeError(ErrorCode.SOURCE_MISSING, f"{item.key}: the file is in neither the inbox nor the archive")

    def ping(self) -> None:
        if not self.archive.parent.is_dir():
            raise IntakeError(ErrorCode.STORAGE_UNAVAILABLE, f"{self.archive.parent} is not a directory")

    def put_derived(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        rel = f"derived/{name}"
        path = self.data_dir / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # readers never see half an image
        except OSError as exc:
            raise IntakeError(ErrorCode.STORAGE_UNAVAILABLE, f"{rel}: {exc}") from exc
        return rel

    def read_derived(self, image_key: str) -> bytes:
        path = (self.data_dir / image_key).resolve()
        if not path.is_relative_to(self.data_dir.resolve()):
            raise IntakeError(ErrorCode.SOURCE_MISSING, f"{image_key}: outside the data directory")
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise IntakeError(ErrorCode.SOURCE_MISSING, f"{image_key}: no such derived image") from exc


def archive_dir(settings: Settings) -> Path:
    return settings.data_dir / "archive"


def make_store(settings: Settings, *, inbox: Path | None = None) -> ObjectStore:
    """The bucket when INTAKE_BUCKET is set, else the inbox folder."""
    if settings.bucket:
        return S3Store(settings.bucket, derived_prefix=settings.derived_prefix)
    return InboxStore(inbox or settings.resolved_inbox_dir, archive_dir(settings), settings.data_dir)


def read_derived(image_key: str, settings: Settings) -> bytes:
    """The bytes of a derived image recorded in DocumentRow.image_key (``s3://...`` or data-dir relative).
    For the review app: it works whichever mode the worker ran in."""
    if image_key.startswith("s3://"):
        bucket, _ = _split_s3(image_key, settings.bucket or "")
        return S3Store(bucket, derived_prefix=settings.derived_prefix).read_derived(image_key)
    return InboxStore(settings.resolved_inbox_dir, archive_dir(settings), settings.data_dir).read_derived(image_key)


# ------------------------------------------------------------------------------------------- watcher


@dataclass
class _Seen:
    signature: tuple[int, int]  # size, mtime_ns
    since: float


class InboxWatcher:
    """Polls the inbox folder; a file that has not changed for ``settle_s`` is enqueued, then archived."""

    def __init__(
        self,
        inbox: Path,
        archive: Path,
        send: Callable[[str, str], Any],
        *,
        settle_s: float = 2.0,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inbox = inbox
        self.archive = archive
        self.send = send  # (body, dedup_key) -> message id
        self.settle_s = settle_s
        self.interval_s = interval_s
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self.enqueued = 0
        self.prune_after_s = 60.0
        # folders we took files out of, and when: only these are removed once empty, never a folder a clerk
        # has just created and not filled yet
        self._emptied: dict[Path, float] = {}
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.archive.mkdir(parents=True, exist_ok=True)

    @property
    def pending(self) -> int:
        """Files seen but not yet enqueued (still settling)."""
        return len(self._seen)

    def _walk(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for dirpath, dirnames, filenames in os.walk(self.inbox):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or name.endswith(_TEMP_SUFFIXES):
                    continue
                path = Path(dirpath, name)
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                found[path.relative_to(self.inbox).as_posix()] = (st.st_size, st.st_mtime_ns)
        return found

    def scan(self) -> int:
        """One pass: returns how many files were enqueued."""
        now = self.clock()
        found = self._walk()
        for key in list(self._seen):
            if key not in found:
                del self._seen[key]
        count = 0
        for key, signature in found.items():
            seen = self._seen.get(key)
            if seen is None or seen.signature != signature:
                self._seen[key] = _Seen(signature, now)
                continue
            if now - seen.since < self.settle_s:
                continue
            try:
                if self._take(key):
                    count += 1
            except OSError as exc:
                log.warning("inbox: cannot take %s yet: %s", key, exc)
                continue
            del self._seen[key]
        self._prune_empty_dirs()
        self.enqueued += count
        return count

    def _take(self, key: str) -> bool:
        path = self.inbox / key
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        version = object_version(sha256=sha)
        message = QueueMessage(kind="process_object", bucket=None, key=key, version_id=version)
        self.send(message.model_dump_json(), object_job_id(None, key, version))
        target = self.archive / key
        if target.exists():
            if hashlib.sha256(target.read_bytes()).hexdigest() == sha:
                path.unlink()
                self._emptied[path.parent] = self.clock()
                return True
            target = self.archive / archived_name(key, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        self._emptied[path.parent] = self.clock()
        return True

    def _prune_empty_dirs(self) -> None:
        now = self.clock()
        for path, since in sorted(self._emptied.items(), key=lambda kv: -len(kv[0].parts)):
            if path == self.inbox or not path.is_relative_to(self.inbox):
                self._emptied.pop(path, None)
                continue
            if now - since < self.prune_after_s:
                continue
            self._emptied.pop(path, None)
            try:
                if not any(path.iterdir()):
                    path.rmdir()
                    self._emptied.setdefault(path.parent, since)  # its parent may be empty now too
            except OSError:
                continue

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.scan()
            except Exception:  # the watcher must outlive a bad file or a full disk
                log.exception("inbox scan failed")
            stop.wait(self.interval_s)
