"""The worker's memory policy: glibc's allocator tuned for a process that reads file after file of similar
size, and the resident-size figures the policy and the reports use.

By default glibc serves every block between 128 KB and 32 MB (a page image is 12 MB, its masks and copies a
few MB each) with a fresh mmap and unmaps it on free, and hands the heap's free top back past 128 KB: every
file then faults all its memory in again, some 20 ms of kernel time per page. So blocks come from the heap,
and what a file frees is kept for the next one; only once the resident size passes `keep_freed_memory_mb`
is it handed back after each file. A worker then stays near its peak between files instead of dropping back,
and the next file reuses that memory (docs/benchmarks.md has the measured cost and peak)."""

from __future__ import annotations

import ctypes
import os
import resource
from collections.abc import Callable
from typing import Any


class Allocator:
    """glibc's mallopt/malloc_trim behind a once-per-process tuning and an after-file trim."""

    _M_TRIM_THRESHOLD = -1
    _M_MMAP_THRESHOLD = -3
    _HEAP_BLOCKS_UP_TO = 256 * 1024 * 1024  # larger blocks (a huge scan) still get their own mmap

    def __init__(self, libc: Any = None) -> None:
        try:
            libc = libc or ctypes.CDLL("libc.so.6")
            self._trim: Callable[[int], int] | None = libc.malloc_trim
            self._mallopt: Callable[[int, int], int] | None = libc.mallopt
        except (OSError, AttributeError):  # not glibc (macOS, musl): the platform's allocator as it is
            self._trim = self._mallopt = None
        self._tuned = False

    def before_file(self, keep_mb: int) -> None:
        if self._mallopt is None or self._tuned or keep_mb <= 0:
            return
        self._mallopt(self._M_MMAP_THRESHOLD, self._HEAP_BLOCKS_UP_TO)
        self._mallopt(self._M_TRIM_THRESHOLD, 2**31 - 1)  # no trimming inside free(): see after_file
        self._tuned = True

    def after_file(self, keep_mb: int) -> None:
        """Hand freed memory back to the OS if the process holds more than `keep_mb` MB (~1 ms)."""
        if self._trim is None:
            return
        if not self._tuned or resident_mb() > keep_mb:
            self._trim(0)


def resident_mb() -> float:
    """This process's resident set size now (Linux; elsewhere 0)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_BYTES / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def peak_rss_mb() -> float:
    """This process's peak RSS. ru_maxrss would do on its own, but Linux carries it over fork+exec, so a
    spawned worker would report its parent's peak (large after listing a million objects); VmHWM belongs
    to the current address space only."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# one per process, whichever entry point reads files (worker, backfill, CLI, bench)
allocator = Allocator()
