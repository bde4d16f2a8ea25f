"""`python -m bench AREA [options]`: accuracy and speed benchmarks that print numbers.

Areas: imaging, idcards, gcn, real, calibrate, engines, match, throughput, load, review, login-flood. `python -m bench AREA --help` for each."""

from __future__ import annotations

import importlib
import sys

AREAS = {
    "imaging": "deskew, orientation and card-detection accuracy and speed vs the deskew package and Tesseract OSD",
    "idcards": "ID card field accuracy and calibration on generated cards",
    "gcn": "certificate field accuracy and calibration on generated certificates",
    "real": "per-field accuracy and calibration on labelled images (truth hashed), beside a synthetic set",
    "calibrate": "confidence as given vs a cross-validated calibrator, real and synthetic apart",
    "engines": "Tesseract as used, field-tuned Tesseract and rapidocr on ID-card numbers and dates (hashed truth)",
    "match": "matching accuracy, calibration and latency vs rapidfuzz and Splink baselines",
    "throughput": "pages/s and core-seconds/page vs plain tesseract, 1 and 2 workers, profile",
    "load": "fault-injection load test of the queue worker (lost/duplicated counts)",
    "review": "review app latency (queue, item page, decide, undo, export) and concurrent take-next",
    "login-flood": "200 parallel failed logins: /healthz latency and server memory (issue 18 targets)",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in AREAS:
        print(__doc__)
        for name, what in AREAS.items():
            print(f"  {name:<11} {what}")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"bench.{argv[0].replace('-', '_')}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
