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
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import ClientError

from models.errors import ErrorCode
from models.messages import QueueMessage
from models.settings import Settings
from worker import aws
from worker.errors import IntakeError, UntrustedMessage
from worker.files import Unsafe, open_inside, private_dir, private_file, write_private
from worker.intake.events import WorkItem
from worker.store.submissions import object_job_id, object_version

log = logging.getLogger(__name__)

# an inbox file that does not look complete (or does not decode) is waited for, then retried, this long after
# its last change before it is taken as it is (a copy that paused, a scanner still writing)
INCOMPLETE_GRACE_S = 120.0
# names editors and copy tools use while a file is still being written
_TEMP_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".filepart", ".swp", "~")


@dataclass
class Fetched:
    data: bytes
    sha256: str
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None
    modified_at: float | None = None  # epoch seconds of the file's last change (inbox only)


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


def _read_confined(root: Path, key: str, max_bytes: int, display: str) -> tuple[bytes, float]:
    """(bytes, last change) of the regular file `key` below `root`; never follows a symlink, never blocks
    on a FIFO, never reads past `max_bytes`."""
    fd = open_inside(root, key)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if st.st_size > max_bytes:
            raise _too_large(display, st.st_size, max_bytes)
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while we read
        raise _too_large(display, len(data), max_bytes)
    return data, st.st_mtime


# ------------------------------------------------------------------------------------------- S3


_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket"})


class S3Store:
    """Originals stay where clerks put them; derived images go to ``derived_prefix`` in ``bucket``."""

    origin = "s3"

    def __init__(self, bucket: str, *, derived_prefix: str = "derived/", client: Any = None) -> None:
        self.bucket = bucket
        self.derived_prefix = derived_prefix
        config = Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 4})
        self.client = client or aws.client("s3", config=config)

    def _error(self, display: str, exc: Exception) -> IntakeError:
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

    def __init__(self, inbox: Path, archive: Path, data_dir: Path, *, grace_s: float | None = None) -> None:
        self.inbox = inbox
        self.archive = archive
        self.data_dir = data_dir
        self.grace_s = INCOMPLETE_GRACE_S if grace_s is None else grace_s

    def _candidates(self, key: str, sha256: str | None) -> list[tuple[Path, str]]:
        paths = [(self.archive, key)]
        if sha256:
            paths.append((self.archive, archived_name(key, sha256)))
        paths.append((self.inbox, key))
        return paths

    def fetch(self, item: WorkItem, *, max_bytes: int) -> Fetched:
        wanted = item.version_id.removeprefix("sha256:") if item.version_id else None
        # twice: the watcher may move the file from the inbox to the archive between our two looks
        for _ in range(2):
            growing: Fetched | None = None
            for root, key in self._candidates(item.key, wanted):
                try:
                    data, modified_at = _read_confined(root, key, max_bytes, item.key)
                except FileNotFoundError:
                    continue
                except Unsafe as exc:
                    raise UntrustedMessage(str(exc)) from exc
                except OSError as exc:
                    raise IntakeError(ErrorCode.STORAGE_UNAVAILABLE, f"{item.key}: {exc}") from exc
                sha = hashlib.sha256(data).hexdigest()
                found = Fetched(data, sha, size=len(data), version_id=item.version_id, modified_at=modified_at)
                if not wanted or sha == wanted:
                    return found
                # another file now has this name, unless it changed moments ago: then it is the one we were
                # asked for, still being written after the watcher took it (used when nothing matches exactly)
                if growing is None and time.time() - modified_at < self.grace_s:
                    growing = found
            if growing is not None:
                return growing
        raise IntakeError(ErrorCode.SOURCE_MISSING, f"{item.key}: the file is in neither the inbox nor the archive")

    def ping(self) -> None:
        if not self.archive.parent.is_dir():
            raise IntakeError(ErrorCode.STORAGE_UNAVAILABLE, f"{self.archive.parent} is not a directory")

    def put_derived(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        rel = f"derived/{name}"
        path = self.data_dir / rel
        try:
            private_dir(path.parent)
            write_private(path, data)  # atomic: readers never see half an image
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
    private_dir(settings.data_dir, tighten=True)
    return InboxStore(inbox or settings.resolved_inbox_dir, archive_dir(settings), settings.data_dir)


def read_derived(image_key: str, settings: Settings) -> bytes:
    """The bytes of a derived image recorded in DocumentRow.image_key (``s3://...`` or data-dir relative).
    For the review app: it works whichever mode the worker ran in."""
    if image_key.startswith("s3://"):
        bucket, _ = _split_s3(image_key, settings.bucket or "")
        return S3Store(bucket, derived_prefix=settings.derived_prefix).read_derived(image_key)
    return InboxStore(settings.resolved_inbox_dir, archive_dir(settings), settings.data_dir).read_derived(image_key)


# ------------------------------------------------------------------------------------------- watcher


def incomplete(data: bytes) -> str | None:
    """Why a scan looks cut short (its format's end marker or declared size is missing), or None when it looks
    whole or the format does not say. Cheap: only the head and the tail are looked at."""
    tail = data[-65536:]
    if data[:2] == b"\xff\xd8":
        return None if b"\xff\xd9" in tail else "JPEG without its end marker"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return None if b"IEND" in data[-1024:] else "PNG without its IEND chunk"
    if data[:5] == b"%PDF-":
        return None if b"%%EOF" in data[-2048:] else "PDF without %%EOF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return None if int.from_bytes(data[4:8], "little") + 8 <= len(data) else "WebP shorter than its header says"
    if data[:2] == b"BM" and len(data) >= 6:
        return None if int.from_bytes(data[2:6], "little") <= len(data) else "BMP shorter than its header says"
    if data[:4] in (b"II*\x00", b"MM\x00*") and len(data) >= 8:
        first_ifd = int.from_bytes(data[4:8], "little" if data[:2] == b"II" else "big")
        return None if first_ifd + 2 <= len(data) else "TIFF whose first directory lies past its end"
    return None if data else "empty"


def _private_parents(root: Path, folder: Path) -> None:
    """Create `folder` below `root` with every new folder on the way 0700."""
    missing = []
    while folder != root and not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        private_dir(path)


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
        self._refused: set[str] = set()
        self.grace_s = INCOMPLETE_GRACE_S
        self.inbox.mkdir(parents=True, exist_ok=True)
        private_dir(self.archive)

    @property
    def pending(self) -> int:
        """Files seen but not yet enqueued (still settling)."""
        return len(self._seen)

    def _walk(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for dirpath, dirnames, filenames in os.walk(self.inbox):  # never descends into a symlinked folder
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or name.endswith(_TEMP_SUFFIXES):
                    continue
                path = Path(dirpath, name)
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    continue
                key = path.relative_to(self.inbox).as_posix()
                if not stat.S_ISREG(st.st_mode):
                    # a FIFO would block the watcher for ever, a symlink may lead anywhere: left alone, said once
                    if key not in self._refused:
                        self._refused.add(key)
                        log.warning("inbox: %s is not a regular file (a symlink, FIFO or device): left alone", key)
                    continue
                found[key] = (st.st_size, st.st_mtime_ns)
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
                taken = self._take(key, waited_s=now - seen.since)
            except (OSError, Unsafe) as exc:
                log.warning("inbox: cannot take %s yet: %s", key, exc)
                continue
            if taken is None:
                continue  # looks half written: wait for the rest (up to the grace period)
            count += taken
            del self._seen[key]
        self._prune_empty_dirs()
        self.enqueued += count
        return count

    def _take(self, key: str, *, waited_s: float = float("inf")) -> bool | None:
        path = self.inbox / key
        fd = open_inside(self.inbox, key)
        with os.fdopen(fd, "rb") as f:
            data = f.read()
            # unchanged for how long: since the watcher first saw it, or since its last write if that is older
            quiet_s = max(waited_s, time.time() - os.fstat(f.fileno()).st_mtime)
        if quiet_s < self.grace_s and (why := incomplete(data)):
            log.info("inbox: %s looks half written (%s); waiting for the rest", key, why)
            return None
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
        _private_parents(self.archive, target.parent)
        shutil.move(path, target)
        private_file(target)  # a clerk's copy may be world-readable; the archive is not
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
