"""The figures of `python -m bench throughput` (per run, and a profile) and the report printed from them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

TARGETS = {"core_ratio_max": 1.0, "speedup_min": 1.8, "rss_mb_max": 400.0, "match_share_max": 0.05}


@dataclass
class RunStats:
    name: str
    pages: int = 0
    wall_s: float = 0.0
    core_s: float = 0.0  # per-page work only (worker start-up excluded)
    startup_core_s: float = 0.0
    peak_rss_mb: list[float] = field(default_factory=list)  # per worker process
    warm_rss_mb: list[float] = field(default_factory=list)  # per worker, while reading the warm-up submission
    match_cpu_s: float = 0.0
    match_calls: int = 0
    files: int = 0
    workers: int = 1
    documents: int = 0
    errors: int = 0

    @property
    def core_per_page(self) -> float:
        return self.core_s / self.pages if self.pages else float("nan")

    @property
    def utilisation(self) -> float:
        """Share of its cores a run actually got: well under 1 means other work was competing for them."""
        return self.core_s / (self.wall_s * self.workers) if self.wall_s else float("nan")

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.wall_s if self.wall_s else float("nan")


@dataclass
class Profile:
    total_s: float
    tesseract_s: float
    by_stage: list[tuple[str, float]]
    top: list[tuple[str, int, float, float]]  # (function, calls, tottime, cumtime)
    by_self: list[tuple[str, int, float, float]]  # any code, by self time


def _fmt(v: float, spec: str = ".3f") -> str:
    return "-" if v != v else format(v, spec)


def print_report(
    runs: list[RunStats],
    naive: RunStats,
    one: RunStats,
    two: RunStats | None,
    prof: Profile | None,
    engines: list[tuple[str, int, float, float]],
    registry_size: int,
    cores: list[int],
) -> dict[str, Any]:
    _print_runs(runs)
    core_ratio, speedup, rss_max, match_share = _print_targets(naive, one, two, registry_size)
    if engines:
        _print_engines(engines)
    if prof:
        _print_profile(prof)
    projection = _print_projection(naive, one, two, speedup, cores)
    return {
        "core_ratio": core_ratio,
        "speedup": speedup,
        "rss_max_mb": rss_max,
        "match_share": match_share if registry_size else None,
        "projection_hours": projection,
    }


def _print_runs(runs: list[RunStats]) -> None:
    """The machine, then per run: pages, core-seconds per page, speed, CPU got, peak RSS and start-up."""
    print()
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other work skews wall-clock ratios)"
    )
    print(
        f"{'run':<40} {'pages':>6} {'core-s/page':>12} {'pages/s':>8} {'wall s':>8} {'CPU got':>8} "
        f"{'peak RSS/worker MB':>20}"
    )
    for r in runs:
        rss = ", ".join(f"{v:.0f}" for v in r.peak_rss_mb) or "-"
        print(
            f"{r.name:<40} {r.pages:>6} {_fmt(r.core_per_page):>12} {_fmt(r.pages_per_s):>8} {r.wall_s:>8.1f} "
            f"{r.utilisation:>8.0%} {rss:>20}"
        )
    print("  CPU got = core-seconds / (wall seconds x processes): below ~95% the machine was shared")
    startup = [r for r in runs if r.startup_core_s]
    for r in startup:
        per = r.startup_core_s / max(1, len(r.peak_rss_mb))
        print(f"  {r.name}: start-up {per:.2f} core-s per worker (imports, models, matcher; paid once)")
        if any(r.warm_rss_mb):
            warm = ", ".join(f"{v:.0f}" for v in r.warm_rss_mb)
            print(f"    peak RSS while reading the warm-up submission: {warm} MB (not in the table's figure)")


def _print_targets(
    naive: RunStats, one: RunStats, two: RunStats | None, registry_size: int
) -> tuple[float, float, float, float]:
    """The ratios against TARGETS; returns the core ratio, the speed-up, the largest RSS and the matching share."""
    core_ratio = one.core_per_page / naive.core_per_page
    speedup = two.pages_per_s / one.pages_per_s if two else float("nan")
    rss_max = max([*one.peak_rss_mb, *(two.peak_rss_mb if two else [])])
    # CPU of the re-matches (one after every file) against all CPU spent on the same pages
    match_share = one.match_cpu_s / one.core_s if one.core_s else float("nan")
    print()
    print("ratios against the targets")
    print(
        f"  core-s/page pipeline / naive (1 thread)    {core_ratio:6.2f}   target <= {TARGETS['core_ratio_max']:.2f}  "
        f"{'OK' if core_ratio <= TARGETS['core_ratio_max'] else 'MISSED'}"
    )
    if two:
        print(
            f"  pages/s 2 workers / 1 worker              {speedup:6.2f}   target >= {TARGETS['speedup_min']:.2f}  "
            f"{'OK' if speedup >= TARGETS['speedup_min'] else 'MISSED'}"
        )
        cost_ratio = two.core_per_page / one.core_per_page
        print(
            f"  core-s/page 2 workers / 1 worker          {cost_ratio:6.2f}   (CPU-bound estimate for an idle machine: "
            f"{2 / cost_ratio:.2f}x, less any load imbalance; the measured figure is only as good as 'CPU got')"
        )
    print(
        f"  peak RSS per worker (MB)                  {rss_max:6.0f}   target <= {TARGETS['rss_mb_max']:.0f}   "
        f"{'OK' if rss_max <= TARGETS['rss_mb_max'] else 'MISSED'}"
    )
    if registry_size:
        print(
            f"  matching share of per-page time ({registry_size} parcels) {match_share:6.1%}  "
            f"target <= {TARGETS['match_share_max']:.0%}  {'OK' if match_share <= TARGETS['match_share_max'] else 'MISSED'}"
        )
        print(
            f"    {one.match_cpu_s / max(1, one.files) * 1000:.1f} ms CPU per match, "
            f"{one.match_cpu_s / max(1, one.match_calls) * 1000:.1f} ms per submission: re-matched after each of its "
            f"{one.files / max(1, one.match_calls):.1f} files, as the queue worker and backfill do"
        )
    else:
        print("  matching share                            not measured (no matcher / registry available)")
    return core_ratio, speedup, rss_max, match_share


def _print_engines(engines: list[tuple[str, int, float, float]]) -> None:
    print()
    print(
        f"{'Tesseract per call':<22} {'crops':>6} {'pytesseract core-s':>19} {'tesserocr core-s':>17} {'saving':>8}"
    )
    for label, n, a, b in engines:
        print(f"{label:<22} {n:>6} {a:>19.3f} {_fmt(b):>17} {_fmt(a / b, '.1f') + 'x' if b == b else '-':>8}")


def _print_profile(prof: Profile) -> None:
    print()
    print(
        f"profile: one process, {prof.total_s:.1f} CPU-s; inside Tesseract ~{prof.tesseract_s / prof.total_s:.0%}"
    )
    print(f"  {'self time by area':<44} {'s':>7} {'share':>6}")
    for label, t in prof.by_stage:
        print(f"  {label:<44} {t:>7.2f} {t / prof.total_s:>6.1%}")
    print(f"  {'top functions of ours by cumulative time':<70} {'calls':>7} {'self s':>7} {'cum s':>7}")
    for fn, calls, tt, ct in prof.top:
        print(f"  {fn[:70]:<70} {calls:>7} {tt:>7.2f} {ct:>7.2f}")
    print(f"  {'top functions of any code by self time':<70} {'calls':>7} {'self s':>7} {'cum s':>7}")
    for fn, calls, tt, ct in prof.by_self:
        print(f"  {fn[-70:]:<70} {calls:>7} {tt:>7.2f} {ct:>7.2f}")


def _print_projection(
    naive: RunStats, one: RunStats, two: RunStats | None, speedup: float, cores: list[int]
) -> dict[int, float]:
    """Hours for a million pages on `cores` cores, from the measured and the CPU-bound parallel efficiency."""
    efficiency = min(1.0, speedup / 2) if two else 1.0
    # on a shared machine the measured speed-up says more about the neighbours than about us: also project
    # with the CPU-bound estimate (per-page core-seconds with 2 workers against 1)
    cpu_efficiency = min(1.0, one.core_per_page / two.core_per_page) if two else 1.0
    print()
    print(
        f"projection for 1,000,000 pages (parallel efficiency {efficiency:.2f} measured with 2 workers, "
        f"{cpu_efficiency:.2f} CPU-bound estimate)"
    )
    print(f"  {'cores':>6} {'pipeline hours':>15} {'(CPU-bound est.)':>17} {'naive CLI hours':>16}")
    projection = {}
    for n in cores:
        hours = 1e6 * one.core_per_page / (n * efficiency) / 3600
        est = 1e6 * one.core_per_page / (n * cpu_efficiency) / 3600
        naive_hours = 1e6 * naive.core_per_page / n / 3600
        projection[n] = hours
        print(f"  {n:>6} {hours:>15.1f} {est:>17.1f} {naive_hours:>16.1f}")
    return projection
