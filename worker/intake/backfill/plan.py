"""Resume: which listed objects are already done (the results database is the state)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_

from worker.intake.backfill.listing import SourceObject
from worker.intake.folder import local_sha256
from worker.store.results import SourceObjectRow
from worker.store.submissions import DONE_STATUSES, object_version


def plan(
    objects: Sequence[SourceObject],
    engine: Any,
    *,
    pipeline_version: str,
    reprocess: bool = False,
    root: Path | None = None,
    chunk: int = 500,
) -> tuple[list[SourceObject], list[SourceObject]]:
    """Split objects into (to do, already done), with the queue worker's identity rules
    (worker.store.submissions.object_version / is_object_done), batched: one query per ``chunk`` keys
    instead of one per object keeps resuming a million-object archive a matter of seconds.

    Done = a stored row for the same key, in a final status, for the same content (S3: version id or ETag;
    local: the file's sha256, hashed only when such a row of the same size exists); with ``reprocess`` the
    row must also come from ``pipeline_version``."""
    todo: list[SourceObject] = []
    done: list[SourceObject] = []
    # hashlib releases the GIL on large buffers: a few threads keep the disk, not one core, the limit
    hasher = ThreadPoolExecutor(4) if any(o.is_local for o in objects) else None
    try:
        for start in range(0, len(objects), chunk):
            batch = objects[start : start + chunk]
            with engine.connect() as conn:
                rows = conn.execute(
                    select(
                        SourceObjectRow.bucket,
                        SourceObjectRow.key,
                        SourceObjectRow.version_id,
                        SourceObjectRow.etag,
                        SourceObjectRow.size,
                        SourceObjectRow.status,
                        SourceObjectRow.pipeline_version,
                    ).where(tuple_(SourceObjectRow.bucket, SourceObjectRow.key).in_([(o.bucket, o.key) for o in batch]))
                ).all()
            stored: dict[tuple[str, str], list[Any]] = defaultdict(list)
            for r in rows:
                if r.status in DONE_STATUSES and (not reprocess or r.pipeline_version == pipeline_version):
                    stored[(r.bucket, r.key)].append(r)
            # local files: hash only those with a finished row of the same size (a new size is new content)
            to_hash = [
                o
                for o in batch
                if o.is_local and any(r.size is None or r.size == o.size for r in stored.get((o.bucket, o.key), []))
            ]
            assert root is not None or not to_hash
            hashes: dict[str, str] = {}
            if to_hash and hasher is not None and root is not None:
                paths = [root / o.key for o in to_hash]
                hashes = dict(zip((o.key for o in to_hash), hasher.map(local_sha256, paths), strict=True))
            for obj in batch:
                finished = stored.get((obj.bucket, obj.key), [])
                if obj.is_local:
                    versions = {object_version(sha256=hashes[obj.key])} if obj.key in hashes else set()
                else:
                    versions = {object_version(version_id=obj.version_id), object_version(etag=obj.etag)} - {""}
                same = any(
                    r.version_id in versions or (obj.etag and r.etag and r.etag.strip('"') == obj.etag)
                    for r in finished
                )
                (done if same else todo).append(obj)
    finally:
        if hasher is not None:
            hasher.shutdown()
    return todo, done
