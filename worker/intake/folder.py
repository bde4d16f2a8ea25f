"""Scans in a local folder, read like inbox files: the backfill SOURCE directory and `intake process --save`."""

from __future__ import annotations

import hashlib
from pathlib import Path

from models.settings import Settings
from worker.intake.sources import InboxStore


def local_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class DirectoryStore(InboxStore):
    """Reads originals from one folder (keys relative to it, like the inbox's); derived images go where the
    inbox's go. Built on the inbox store so identity and error codes stay the same."""

    def __init__(self, root: Path, settings: Settings) -> None:
        # a folder being backfilled is history, not a copy in progress: an undecodable file fails at once
        super().__init__(root, root, settings.data_dir, grace_s=0.0)
        self.root = root

    def _candidates(self, key: str, sha256: str | None) -> list[tuple[Path, str]]:
        return [(self.root, key)]
