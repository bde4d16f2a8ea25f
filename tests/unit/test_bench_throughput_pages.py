"""Which pages the throughput benchmark measures: a set made by `intake samples`, or any flat folder of
images (photos and scans nobody here drew), one submission per file."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from bench.throughput import prepare_pages


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 30), 255, np.uint8)).save(path)
    return path


def _args(pages_dir: Path) -> argparse.Namespace:
    return argparse.Namespace(pages_dir=str(pages_dir), max_pages=0, submissions=0, seed=0, registry_size=0)


def test_a_flat_folder_is_one_submission_per_image(tmp_path: Path) -> None:
    a, b = _image(tmp_path / "a.jpg"), _image(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("not a page")
    submissions, parcels, pages = prepare_pages(_args(tmp_path), tmp_path / "work")
    assert submissions == [("a", [a]), ("b", [b])] and parcels is None and pages == 2


def test_a_samples_folder_keeps_its_submissions(tmp_path: Path) -> None:
    first = [_image(tmp_path / "submissions" / "s1" / n) for n in ("front.jpg", "back.jpg")]
    second = _image(tmp_path / "submissions" / "s2" / "page.png")
    (tmp_path / "parcels.csv").write_text("parcel_id\n")
    submissions, parcels, pages = prepare_pages(_args(tmp_path), tmp_path / "work")
    assert submissions == [("s1", sorted(first)), ("s2", [second])]
    assert parcels == tmp_path / "parcels.csv" and pages == 3
