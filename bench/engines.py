"""Engines benchmark: Tesseract as the pipeline uses it beside other readings of the same ID-card numbers and
dates (issue 15 item 6), per field right / wrong / missing and CPU seconds per card.

    python -m bench engines --manifest ../shared/real/dev.tsv --images /tmp/realdev     # the real dev set
    python -m bench engines --synthetic 4 --seed 5                                      # synthetic renders

Each ID-card image goes through the pipeline once, with a reader that keeps the crops the ID-card reader
re-reads with its digit or date alphabet (the id_number and date boxes found from their labels). Then:

  pipeline          the pipeline's own values (layout pass, whitelisted re-reads, QR, MRZ, vote); CPU is the
                    whole pipeline per card
  tess-line         Tesseract on those crops as one line (psm 7) with the field's alphabet
  tess-patterns     the same with user patterns for the field's shape (a 12- or 9-digit number, dd/mm/yyyy)
  rapidocr-crop     rapidocr's recogniser (PP-OCR, ONNX) on the same crops
  rapidocr-card     rapidocr's detector and recogniser on the whole image, the fields found by their labels
  pipeline+...      the pipeline with rapidocr beside it, as `combine` says (fill what is missing, or also
                    replace what is under 0.9)

A reading counts only in the field's format (9 or 12 digits, a date); anything else is missing, as a reader
rule would drop it. "second opinion" counts, for the pipeline's values at confidence >= 0.9, how often
each rapidocr engine agrees and whether the pipeline was right. Truth is the manifest's salted hashes (bench/realset.py):
only counts, rates and field names are printed, never a value. rapidocr is optional:
`pip install -e '.[engines]'`; without it the rapidocr rows are left out.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench import real
from bench.realset import HIGH, ManifestRow, digest, read_manifest
from models.settings import get_settings
from worker.extract.idcard.card import PRINTED
from worker.extract.idcard.numbers import date_in
from worker.extract.idcard.regions import TO_DIGIT
from worker.ocr import ReadOptions, TesseractReader
from worker.ocr.reader import prepare
from worker.ocr.tesseract import tessdata_dir
from worker.pipeline import check_and_match, read_file
from worker.vntext import name_key

CARD_TYPES = ("cccd_front", "cccd_back", "cmnd_front")
FIELDS = ("id_number", "date_of_birth", "date_of_expiry")
DIGITS = "0123456789"
DATE_CHARS = "0123456789/-."
INSTALL_HINT = "rapidocr is not installed: `pip install -e '.[engines]'` (rapidocr, onnxruntime) adds its rows"
ENGINES = (
    "pipeline",
    "tess-line",
    "tess-patterns",
    "rapidocr-crop",
    "rapidocr-card",
    "pipeline+crop-fill",
    "pipeline+card-fill",
    "pipeline+card-unsure",
)
SECOND_OPINIONS = ("rapidocr-crop", "rapidocr-card")
# the shapes the fields are printed in, for Tesseract's user patterns (\d is any digit)
PATTERNS = "\\d\\d\\d\\d\\d\\d\\d\\d\\d\\d\\d\\d\n\\d\\d\\d\\d\\d\\d\\d\\d\\d\n\\d\\d/\\d\\d/\\d\\d\\d\\d\n"


@dataclass
class Crop:
    image: np.ndarray
    scale: float


@dataclass
class CardRun:
    """One card: what each engine read per field (values stay in memory, never printed) and its CPU."""

    row: ManifestRow
    values: dict[str, dict[str, str | None]] = field(default_factory=lambda: defaultdict(dict))
    confidence: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    crops: dict[str, Crop] = field(default_factory=dict)
    printed: frozenset[str] = frozenset(FIELDS)  # of FIELDS, those the card the pipeline saw prints
    card_fallback: bool = False  # the pipeline left one of them missing or under 0.9: rapidocr-card would run


def _field_being_read() -> str | None:
    """Which printed field the ID-card reader is reading now: the `name` of the `_read_printed` call up the
    stack (the bench must not change the reader to learn it)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "_read_printed":
            name = frame.f_locals.get("name")
            return name if isinstance(name, str) else None
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _recording_reader(lang: str) -> Any:
    class RecordingReader(TesseractReader):
        """Tesseract as the pipeline uses it, keeping the first alphabet-restricted crop of each field (a
        crop of another size later is a second layout pass's box, which replaces it)."""

        def __init__(self) -> None:
            super().__init__(lang)
            self.crops: dict[str, Crop] = {}

        def read_characters(self, image: np.ndarray, options: ReadOptions) -> Any:
            if options.whitelist in (DIGITS, DATE_CHARS):
                name = _field_being_read()
                if name in FIELDS:
                    old = self.crops.get(name)
                    if old is None or old.image.shape != image.shape:
                        self.crops[name] = Crop(image.copy(), options.scale)
            return super().read_characters(image, options)

    return RecordingReader()


# ---------------------------------------------------------------- parsing a reading into a field value


def parse(name: str, text: str, length: int) -> str | None:
    """A reading in the field's format, or None (a wrong length or no date is no value)."""
    if name == "id_number":
        runs = re.findall(r"\d+", re.sub(r"\s", "", text.translate(TO_DIGIT)))
        found = [r for r in runs if len(r) == length]
        return found[0] if found else None
    d = date_in(text)
    return d.isoformat() if d else None


def _length(row: ManifestRow) -> int:
    return 9 if row.design == "cmnd9" else 12


# ---------------------------------------------------------------- engines


def run_pipeline(row: ManifestRow, data: bytes, run: CardRun) -> None:
    settings = get_settings()
    reader = _recording_reader(settings.tesseract_lang)
    started = time.process_time()
    docs = read_file(data, row.file, settings=settings, reader=reader).documents
    docs = check_and_match(docs, None).documents
    run.cpu["pipeline"] = time.process_time() - started
    run.crops = reader.crops
    doc = max(docs, key=lambda d: len(d.fields), default=None)
    run.printed = printed_fields(doc)
    for name in FIELDS:
        fv = doc.fields.get(name) if doc is not None else None
        value = fv.value if fv is not None and fv.value not in (None, "") else None
        run.values["pipeline"][name] = str(value) if value is not None else None
        if fv is not None and value is not None:
            run.confidence[name] = float(fv.confidence)


def printed_fields(doc: Any) -> frozenset[str]:
    """Which of the numeric fields the card the pipeline recognised prints (all three when it saw no card)."""
    generation = doc.fields.get("card_generation") if doc is not None else None
    if generation is None or "_" not in str(doc.doc_type):
        return frozenset(FIELDS)
    side = str(doc.doc_type).split("_")[1]
    return frozenset(FIELDS) & frozenset(PRINTED.get((str(generation.value), side), FIELDS))


class TessPatterns:
    """Tesseract with user patterns: an init-time setting, so its own engine instance (the pipeline's are
    shared per thread and must not keep it)."""

    def __init__(self, lang: str) -> None:
        import tesserocr  # optional at install time (no wheel everywhere): the worker falls back to pytesseract

        self.patterns = Path(tempfile.mkdtemp(prefix="bench-engines-")) / "fields.patterns"
        self.patterns.write_text(PATTERNS)
        self.api = tesserocr.PyTessBaseAPI(
            path=f"{tessdata_dir()}/", lang=lang, psm=7, variables={"user_patterns_file": str(self.patterns)}
        )
        self.api.SetVariable("tessedit_do_invert", "0")

    def read(self, crop: Crop, whitelist: str) -> str:
        img = np.ascontiguousarray(prepare(crop.image, scale=crop.scale))
        self.api.SetVariable("tessedit_char_whitelist", whitelist)
        self.api.SetImageBytes(img.tobytes(), img.shape[1], img.shape[0], 1, img.shape[1])
        self.api.SetSourceResolution(96)
        return str(self.api.GetUTF8Text() or "")


def run_tesseract_crops(run: CardRun, patterns: TessPatterns | None) -> None:
    reader = TesseractReader(get_settings().tesseract_lang)
    for name in FIELDS:
        crop = run.crops.get(name)
        whitelist = DIGITS if name == "id_number" else DATE_CHARS
        for engine in ("tess-line", "tess-patterns"):
            if crop is None or (engine == "tess-patterns" and patterns is None):
                run.values[engine][name] = None
                continue
            started = time.process_time()
            if engine == "tess-line":
                text = reader.read_line(crop.image, psm=7, whitelist=whitelist, scale=crop.scale).text
            else:
                assert patterns is not None
                text = patterns.read(crop, whitelist)
            run.cpu[engine] += time.process_time() - started
            run.values[engine][name] = parse(name, text, _length(run.row))


def rapidocr_engine(max_side: int = 2000) -> Any | None:
    """rapidocr with its packaged models, one thread (as Tesseract runs here), or None when not installed;
    `max_side` caps the longer side of a whole image before detection (its default 2000)."""
    try:  # the optional `engines` extra
        from rapidocr import RapidOCR
    except ImportError:
        return None
    one = {"EngineConfig.onnxruntime.intra_op_num_threads": 1, "EngineConfig.onnxruntime.inter_op_num_threads": 1}
    return RapidOCR(params={"Global.log_level": "error", "Global.max_side_len": max_side, **one})


def run_rapidocr(run: CardRun, engine: Any, colour: np.ndarray) -> None:
    for name in FIELDS:
        crop = run.crops.get(name)
        if crop is None:
            run.values["rapidocr-crop"][name] = None
            continue
        img = crop.image if crop.image.ndim == 3 else cv2.cvtColor(crop.image, cv2.COLOR_GRAY2BGR)
        started = time.process_time()
        out = engine(img, use_det=False, use_cls=False, use_rec=True)
        run.cpu["rapidocr-crop"] += time.process_time() - started
        run.values["rapidocr-crop"][name] = parse(name, " ".join(out.txts or ()), _length(run.row))
    started = time.process_time()
    out = engine(colour, use_det=True, use_cls=True, use_rec=True)
    run.cpu["rapidocr-card"] = time.process_time() - started
    run.values["rapidocr-card"].update(card_fields(list(out.txts or ()), _length(run.row)))


def card_fields(texts: list[str], length: int) -> dict[str, str | None]:
    """The number and the dates from a whole card's text boxes in reading order: the number is any run of
    the right length; a date belongs to the label in its box or in one of the two boxes before it."""
    out: dict[str, str | None] = dict.fromkeys(FIELDS)
    labels = {"date_of_birth": ("SINH", "BIRTH"), "date_of_expiry": ("GIA TRI", "EXPIRY", "DEN")}
    for i, text in enumerate(texts):
        if out["id_number"] is None:
            out["id_number"] = parse("id_number", text, length)
        found = parse("date_of_birth", text, length)
        if found is None:
            continue
        near = name_key(" ".join(texts[max(0, i - 2) : i + 1]))
        for name, words in labels.items():
            if out[name] is None and any(w in near for w in words):
                out[name] = found
                break
    return out


def combine(run: CardRun) -> None:
    """The pipeline with rapidocr beside it. crop-fill: rapidocr-crop's value where the pipeline gave none.
    card-fill: rapidocr-card run only on a card where the pipeline left a field the card prints missing or
    under 0.9, its value where the pipeline gave none. card-unsure: the same, and its value also replaces a
    pipeline value under 0.9 it disagrees with. CPU counts rapidocr-card only on the cards it ran on."""
    pipe = run.values["pipeline"]
    unsure = {n for n in run.printed if pipe.get(n) is None or run.confidence.get(n, 0.0) < HIGH}
    card = run.values["rapidocr-card"]
    for name in FIELDS:
        mine, crop, other = pipe.get(name), run.values["rapidocr-crop"].get(name), card.get(name)
        run.values["pipeline+crop-fill"][name] = mine if mine is not None else crop
        run.values["pipeline+card-fill"][name] = mine if mine is not None or not unsure else other
        replace = bool(unsure) and other is not None and (mine is None or name in unsure)
        run.values["pipeline+card-unsure"][name] = other if replace else mine
    run.cpu["pipeline+crop-fill"] = run.cpu["pipeline"] + run.cpu["rapidocr-crop"]
    run.card_fallback = bool(unsure)
    extra = run.cpu["rapidocr-card"] if unsure else 0.0
    run.cpu["pipeline+card-fill"] = run.cpu["pipeline+card-unsure"] = run.cpu["pipeline"] + extra


# ---------------------------------------------------------------- scoring and printing


@dataclass
class Count:
    right: int = 0
    wrong: int = 0
    missing: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def n(self) -> int:
        return self.right + self.wrong + self.missing


def outcome(name: str, value: str | None, want: str) -> str:
    if value is None:
        return "missing"
    return "right" if digest(name, value) == want else "wrong"


def summarise(runs: list[CardRun]) -> dict[str, Any]:
    """Counts per engine and field, CPU per card, and the second-opinion table: counts and rates only."""
    engines = [e for e in ENGINES if any(e in r.values for r in runs)]
    counts: dict[str, dict[str, Count]] = {e: defaultdict(Count) for e in engines}
    second: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in runs:
        for name in FIELDS:
            want = r.row.truth.get(name)
            if not want:
                continue
            for e in engines:
                counts[e][name].add(outcome(name, r.values[e].get(name), want))
            mine, conf = r.values["pipeline"].get(name), r.confidence.get(name, 0.0)
            if mine is None or conf < HIGH:
                continue
            ok = "right" if outcome(name, mine, want) == "right" else "wrong"
            for e in SECOND_OPINIONS:
                if e not in engines:
                    continue
                other = r.values[e].get(name)
                said = (
                    "no_reading"
                    if other is None
                    else "agree"
                    if digest(name, other) == digest(name, mine)
                    else "disagree"
                )
                second[e][f"{said}_pipeline_{ok}"] += 1
    cpu = {e: round(sum(r.cpu.get(e, 0.0) for r in runs) / len(runs), 4) if runs else None for e in engines}
    return {
        "cards": len(runs),
        "cards_with_card_fallback": sum(r.card_fallback for r in runs),
        "engines": {
            e: {
                "fields": {n: vars(c) for n, c in sorted(counts[e].items())},
                "all": {k: sum(getattr(c, k) for c in counts[e].values()) for k in ("right", "wrong", "missing")},
                "cpu_seconds_per_card": cpu[e],
            }
            for e in engines
        },
        "second_opinion_at_high": {e: dict(sorted(c.items())) for e, c in second.items()},
    }


def _rate(c: dict[str, int]) -> str:
    n = c["right"] + c["wrong"] + c["missing"]
    return f"{c['right']:>3}/{c['wrong']:>2}/{c['missing']:>2} {c['right'] / n:>5.0%}" if n else f"{'-':>15}"


def print_summary(s: dict[str, Any]) -> None:
    print(f"\n== engines on {s['cards']} ID-card images: right/wrong/missing and right %, CPU s per card")
    print(f"{'engine':<22}" + "".join(f"{n:>17}" for n in (*FIELDS, "all")) + f"{'CPU s/card':>12}{'x pipeline':>11}")
    base = s["engines"].get("pipeline", {}).get("cpu_seconds_per_card") or 0.0
    for e, t in s["engines"].items():
        cells = [t["fields"].get(n, {"right": 0, "wrong": 0, "missing": 0}) for n in FIELDS] + [t["all"]]
        cpu = t["cpu_seconds_per_card"]
        ratio = f"{cpu / base:>10.2f}x" if base else f"{'-':>11}"
        print(f"{e:<22}" + "".join(f"{_rate(c):>17}" for c in cells) + f"{cpu:>12.3f}{ratio}")
    if "pipeline+card-fill" in s["engines"]:
        print(f"\nrapidocr-card ran as the fallback on {s['cards_with_card_fallback']} of {s['cards']} cards")
    for e, c in s["second_opinion_at_high"].items():
        print(f"\nsecond opinion: the pipeline's values at confidence >= 0.9 against {e}")
        for k, v in c.items():
            print(f"  {k:<32}{v:>4}")


# ---------------------------------------------------------------- command line


def measure(
    rows: list[ManifestRow], images: Path, *, with_rapidocr: bool = True, card_side: int = 2000
) -> list[CardRun]:
    lang = get_settings().tesseract_lang
    engine = rapidocr_engine(card_side) if with_rapidocr else None
    if with_rapidocr and engine is None:
        print(INSTALL_HINT, file=sys.stderr)
    try:
        patterns: TessPatterns | None = TessPatterns(lang)
    except (ImportError, RuntimeError):
        patterns = None  # user patterns need tesserocr (pytesseract would reload the model on every call)
    runs = []
    warm = False
    for i, row in enumerate(rows, start=1):
        path = images / row.file
        if not path.is_file():
            continue
        data = path.read_bytes()
        colour = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if not warm:  # model loads and lazy imports off the clock, as a long-running worker pays them once
            warm = True
            scratch = CardRun(row)
            run_pipeline(row, data, scratch)
            if engine is not None and colour is not None:
                run_rapidocr(scratch, engine, colour)
        run = CardRun(row)
        run_pipeline(row, data, run)
        run_tesseract_crops(run, patterns)
        if engine is not None and colour is not None:
            run_rapidocr(run, engine, colour)
            combine(run)
        runs.append(run)
        print(f"\rengines: {i}/{len(rows)} images", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return runs


def synthetic_rows(outdir: Path, n: int, seed: int) -> list[ManifestRow]:
    """n synthetic card fronts (chip card and 9-digit CMND in turn) rendered by fixtures/ with hashed truth."""
    cases = [c for c in real._synthetic_cases(n * 3, seed) if c["kind"] == "card" and c["side"] == "front"][:n]
    rows = []
    for case in cases:
        data, truth = real._render_synthetic(case)
        (outdir / case["file"]).write_bytes(data)
        rows.append(real.synthetic_row(case, truth, seed))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench engines", description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, help="labelled set (truth hashed), e.g. ../shared/real/dev.tsv")
    ap.add_argument("--images", type=Path, help="folder holding the manifest's images")
    ap.add_argument("--synthetic", type=int, default=0, metavar="N", help="N synthetic card fronts instead")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--no-rapidocr", action="store_true", help="Tesseract rows only")
    ap.add_argument("--card-side", type=int, default=2000, help="rapidocr-card: longest side before detection")
    ap.add_argument("--json", type=Path, help="write the summary (counts and rates only) as JSON")
    args = ap.parse_args(argv)
    if not args.synthetic and not (args.manifest and args.images):
        ap.error("give --manifest and --images, or --synthetic N")
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        if args.synthetic:
            images = Path(tmp)
            rows = synthetic_rows(images, args.synthetic, args.seed)
        else:
            if not args.manifest.is_file() or not args.images.is_dir():
                print(f"not found: {args.manifest} or {args.images}", file=sys.stderr)
                return 3
            images = args.images
            rows = [r for r in read_manifest(args.manifest) if r.doc_type in CARD_TYPES]
        runs = measure(rows, images, with_rapidocr=not args.no_rapidocr, card_side=args.card_side)
    summary = summarise(runs)
    print_summary(summary)
    if args.json:

        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
