"""The matching benchmark's outcome per submission, the figures over a set of them and their table (one
module below the runners and bench/match.py, which both use them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from worker.match.model import expected_calibration_error


@dataclass
class Outcome:
    truth_parcel: str | None
    top: str | None
    confidence: float
    band: str
    recalled: bool | None  # true parcel among the blocked candidates (None when absent)
    seconds: float
    superseded: bool = False
    kind: str = ""
    owner_ok: bool | None = None
    tied: bool = False  # the best two candidates scored exactly the same: the scans cannot tell them apart
    cpu_seconds: float | None = None  # this process's CPU time (PostgreSQL's server side not included)


def metrics(outcomes: list[Outcome]) -> dict[str, float]:
    """The figures over a set of outcomes, NaN where a figure has no cases."""
    present = [o for o in outcomes if o.truth_parcel]
    absent = [o for o in outcomes if not o.truth_parcel]
    auto = [o for o in outcomes if o.band == "auto_accept"]
    recall = [o.recalled for o in present if o.recalled is not None]
    times = sorted(o.seconds for o in outcomes)
    cpu = sorted(o.cpu_seconds for o in outcomes if o.cpu_seconds is not None)
    conf = [o.confidence for o in outcomes]
    ok = [o.top is not None and o.top == o.truth_parcel for o in outcomes]
    owners = [o.owner_ok for o in present if o.owner_ok is not None and o.top == o.truth_parcel]
    return {
        "submissions": len(outcomes),
        "blocking_recall": sum(recall) / len(recall) if recall else float("nan"),
        "top1_accuracy": sum(o.top == o.truth_parcel for o in present) / len(present) if present else float("nan"),
        "top1_untied": (
            sum(o.top == o.truth_parcel for o in present if not o.tied) / max(1, sum(not o.tied for o in present))
            if present
            else float("nan")
        ),
        "tied": float(sum(o.tied for o in present)),
        "owner_accuracy": sum(owners) / len(owners) if owners else float("nan"),
        "auto_accept_rate": len(auto) / len(outcomes) if outcomes else float("nan"),
        "auto_accept_precision": sum(o.top == o.truth_parcel for o in auto) / len(auto) if auto else float("nan"),
        "ece_top1": expected_calibration_error(conf, ok),
        "absent_below_half": sum(o.confidence < 0.5 for o in absent) / len(absent) if absent else float("nan"),
        "p50_ms": 1000 * times[len(times) // 2] if times else float("nan"),
        "p95_ms": 1000 * times[min(len(times) - 1, int(0.95 * len(times)))] if times else float("nan"),
        "p95_cpu_ms": 1000 * cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))] if cpu else float("nan"),
    }


def print_table(rows: list[tuple[str, dict[str, float]]]) -> None:
    """One column of figures per (name, metrics) row."""
    keys = [
        ("blocking_recall", "blocking recall", "{:.4f}"),
        ("top1_accuracy", "top-1 accuracy (parcel present)", "{:.4f}"),
        ("top1_untied", "top-1 accuracy, exact ties left out", "{:.4f}"),
        ("tied", "present, best two tied (undecidable)", "{:.0f}"),
        ("owner_accuracy", "owner correct (top-1 right)", "{:.4f}"),
        ("auto_accept_rate", "auto-accepted share", "{:.4f}"),
        ("auto_accept_precision", "auto_accept precision", "{:.4f}"),
        ("ece_top1", "ECE (top-1 confidence)", "{:.4f}"),
        ("absent_below_half", "absent parcel: best < 0.5", "{:.4f}"),
        ("p50_ms", "latency p50 ms", "{:.1f}"),
        ("p95_ms", "latency p95 ms", "{:.1f}"),
        ("p95_cpu_ms", "latency p95 ms, client CPU", "{:.1f}"),
    ]
    width = max(len(label) for _, label, _ in keys) + 2
    print("".ljust(width) + "".join(name.rjust(18) for name, _ in rows))
    for key, label, fmt in keys:
        cells = []
        for _, m in rows:
            v = m.get(key, float("nan"))
            cells.append(("-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)).rjust(18))
        print(label.ljust(width) + "".join(cells))
