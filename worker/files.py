"""Files that hold personal data, and files named by untrusted input.

Private: the data directory is 0700 and what the worker writes there (SQLite database and queue, archived
scans, derived page images) is 0600, whatever the process umask, so on a shared host no other account
reads a citizen's ID card. Confined: a path from a queue message or an inbox listing is opened one
component at a time with O_NOFOLLOW below a root directory, so no symlink (in the last component or any
folder on the way) leads outside it, and only a regular file is read (a FIFO would block the reader for
ever, /dev/zero would fill its memory, a directory is no scan)."""

from __future__ import annotations

import os
import stat
from contextlib import suppress
from pathlib import Path, PurePosixPath

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class Unsafe(Exception):
    """A path that must not be read: outside its root, through a symlink, or not a regular file."""


def private_dir(path: Path, *, tighten: bool = False) -> Path:
    """Create `path` and every missing folder above it 0700. `tighten`: an existing `path` we own is made 0700
    too (the data directory of an older install); other existing folders are never touched."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        with suppress(FileExistsError):  # another process made it meanwhile
            new.mkdir(mode=PRIVATE_DIR)
            new.chmod(PRIVATE_DIR)  # mkdir's mode passes through the umask
    if tighten:
        st = path.stat()
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != PRIVATE_DIR:
            path.chmod(PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists and is 0600 (created empty if missing): SQLite then gives its -wal and -shm
    files the same mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (readers never see half a file), mode 0600."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def relative_key(key: str) -> PurePosixPath:
    """A key as a plain relative path: no absolute path, no `..`, no empty or NUL component."""
    if not key or "\x00" in key or key.startswith("/") or "\\" in key:
        raise Unsafe(f"{key!r} is not a relative path inside the inbox")
    parts = PurePosixPath(key).parts
    if not parts or any(p in ("..", ".", "") for p in parts):
        raise Unsafe(f"{key!r} leaves the inbox (.. or .)")
    return PurePosixPath(*parts)


def open_inside(root: Path, key: str) -> int:
    """A read-only descriptor of the regular file `key` below `root`, opened without following any symlink
    and without blocking on a FIFO. Raises Unsafe (bad key, symlink, not a regular file) or OSError (missing,
    unreadable)."""
    rel = relative_key(key)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, flags | os.O_DIRECTORY)
    try:
        for part in rel.parts[:-1]:
            try:
                nxt = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (20, 40):  # ENOTDIR, ELOOP: a file or a symlink where a folder should be
                    raise Unsafe(f"{key}: {part} is not a folder inside the inbox (a symlink?)") from exc
                raise
            os.close(fd)
            fd = nxt
        try:
            leaf = os.open(rel.parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
        except OSError as exc:
            if exc.errno == 40:  # ELOOP: the file itself is a symlink
                raise Unsafe(f"{key}: a symlink (not followed)") from exc
            raise
    finally:
        os.close(fd)
    mode = os.fstat(leaf).st_mode
    if not stat.S_ISREG(mode):
        os.close(leaf)
        raise Unsafe(f"{key}: not a regular file ({_kind(mode)})")
    return leaf


def read_inside(root: Path, key: str, max_bytes: int) -> bytes:
    """The bytes of the regular file `key` below `root`, at most `max_bytes` (+1 to tell it is over)."""
    fd = open_inside(root, key)
    with os.fdopen(fd, "rb") as f:
        return f.read(max_bytes + 1)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symlink"),
    ):
        if test(mode):
            return name
    return "not a regular file"
