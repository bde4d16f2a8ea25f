"""The worker's memory policy: freed memory kept for the next file up to a ceiling, handed back past it."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from unittest import mock

import numpy as np
import pytest

from models.pages import LoadedPage
from models.settings import Settings
from worker import memory, pipeline


class _RecordingLibc:
    """Stands in for glibc only to see which calls the policy makes (the real effect is page faults)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", (pad,)))
        return 1

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", (param, value)))
        return 1


def test_freed_memory_is_kept_below_the_ceiling_and_handed_back_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    libc = _RecordingLibc()
    allocator = memory.Allocator(libc)
    allocator.before_file(360)
    allocator.before_file(360)
    tuning = [c for c in libc.calls if c[0] == "mallopt"]
    assert len(tuning) == 2  # the mmap and trim thresholds, once per process
    assert {param for _, (param, _value) in tuning} == {memory.Allocator._M_MMAP_THRESHOLD,
                                                        memory.Allocator._M_TRIM_THRESHOLD}  # fmt: skip
    monkeypatch.setattr(memory, "resident_mb", lambda: 300.0)
    allocator.after_file(360)
    assert ("malloc_trim", (0,)) not in libc.calls
    monkeypatch.setattr(memory, "resident_mb", lambda: 380.0)
    allocator.after_file(360)
    assert libc.calls[-1] == ("malloc_trim", (0,))


def test_a_ceiling_of_zero_keeps_glibcs_defaults_and_trims_after_every_file() -> None:
    libc = _RecordingLibc()
    allocator = memory.Allocator(libc)
    allocator.before_file(0)
    allocator.after_file(0)
    allocator.after_file(0)
    assert libc.calls == [("malloc_trim", (0,)), ("malloc_trim", (0,))]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_resident_size_is_the_kernels_figure_for_this_process() -> None:
    with open("/proc/self/status") as status:
        vm_rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    # the two reads are a few allocations apart
    assert memory.resident_mb() == pytest.approx(vm_rss_kb / 1024, abs=8)
    assert memory.resident_mb() > 20


_READ_THRICE = """
import resource, sys
import cv2, numpy as np
from worker.pipeline import read_file
page = np.full((2339, 1654, 3), 250, np.uint8)
for row in range(20):
    cv2.putText(page, "Giay chung nhan quyen su dung dat 0123", (120, 160 + 52 * row), cv2.FONT_HERSHEY_SIMPLEX,
                1.1, (20, 20, 20), 2)
data = cv2.imencode(".jpg", page)[1].tobytes()
read_file(data, "page.jpg")
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
read_file(data, "page.jpg")
read_file(data, "page.jpg")
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults_of_two_warm_reads(keep_mb: int) -> int:
    env = {**os.environ, "INTAKE_KEEP_FREED_MEMORY_MB": str(keep_mb), "INTAKE_DATA_DIR": "/nonexistent"}
    out = subprocess.run([sys.executable, "-c", _READ_THRICE], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")
def test_a_warm_worker_touches_no_new_memory_for_a_file_like_the_last() -> None:
    kept = _page_faults_of_two_warm_reads(360)
    handed_back = _page_faults_of_two_warm_reads(0)
    # each fault is a 4 KB page the kernel hands over zeroed: thousands for an A4 page handed back and refetched
    assert handed_back > 2000
    assert kept < handed_back / 10


def test_a_decoded_page_is_let_go_before_its_documents_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[weakref.ref[LoadedPage]] = []
    alive_while_read: list[bool] = []

    def load_pages(data: bytes, source: str, **_: object) -> list[LoadedPage]:
        pages = [LoadedPage(source=source, page=n, sha256="0", image=np.zeros((4, 4, 3), np.uint8)) for n in (1, 2)]
        loaded.extend(weakref.ref(p) for p in pages)
        return pages

    def read_page(normalised: object, **_: object) -> tuple[object, object]:
        gc.collect()
        alive_while_read.append(loaded[len(alive_while_read)]() is not None)
        return object(), normalised

    monkeypatch.setattr(pipeline.imaging, "load_pages", load_pages)
    monkeypatch.setattr(pipeline.imaging, "normalise_page", lambda page, **_: [f"{page.page}"])
    monkeypatch.setattr(pipeline.extract, "read_page", read_page)
    result = pipeline.read_file(b"x", "two.tif", settings=Settings(keep_freed_memory_mb=0), reader=mock.Mock())
    assert len(result.documents) == 2 and not result.errors
    # the first page's picture is gone while the first page is read, the second's while the second is
    assert alive_while_read == [False, False]
