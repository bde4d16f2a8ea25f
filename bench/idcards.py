"""ID-card benchmark: per-field exact-match accuracy, expected calibration error and accuracy by degradation,
on seeded generated cards (all five generations, both sides, the generator's degradation profiles).

    python -m bench idcards [--n 200] [--seed 11] [--workers 2] [--profiles clean,scan,...]
                            [--oracle-crop] [--fit] [--fit-n 400] [--fit-seed 1011] [--ablate lexicon,...]
                            [--world] [--compare]

Each card goes through the real pipeline path: encoded as JPEG, then worker.imaging (load + normalise), then
worker.extract.read_document. `--oracle-crop` instead warps the card out of the degraded image with the
generator's recorded corners, to measure this stage apart from card detection. `--fit` first fits the
confidence model on a separate seed (never the evaluation seed) and stores it in worker/extract.
`--ablate` switches steps off to measure what each one is worth (lexicon, places, qr, mrz, reread).
`--world` draws the cards in the realistic designs (fixtures/cards) and captures them the way people do
(fixtures/capture: phone photos on real surfaces, glare, worn cards, tight crops, 640x640 stretched frames,
sideways and EXIF-rotated photos), and adds accuracy by phenomenon; `--compare` runs the classic set and
the world set on the same seed and prints them side by side per field.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import cv2
import numpy as np
from rapidfuzz.distance import Levenshtein

from fixtures.capture import capture, encode_jpeg
from fixtures.cards import render_world_card, world_person
from fixtures.degrade import degrade
from fixtures.idcards import render_card
from fixtures.people import CARD_GENERATIONS, make_person
from fixtures.scoring import values_equal
from fixtures.textures import LETTERED
from models.pages import NormalisedPage
from worker import imaging
from worker.extract import idcard, lexicon, places
from worker.extract.confidence import expected_calibration_error, reliability_table
from worker.extract.document import read_document_detailed
from worker.extract.idcard import vote
from worker.extract.idcard.evidence import Features
from worker.extract.idcard.evidence import fit as fit_model
from worker.vntext import clean

SCORED = (
    "doc_type",
    "card_generation",
    "id_number",
    "full_name",
    "date_of_birth",
    "sex",
    "place_of_residence",
    "place_of_origin",
    "date_of_expiry",
    "issue_date",
    "nationality",
    "old_id_number",
    "place_of_birth",
    "issuer",
)
CALIBRATED = (
    "id_number",
    "full_name",
    "date_of_birth",
    "sex",
    "place_of_residence",
    "place_of_origin",
    "date_of_expiry",
    "issue_date",
)
TARGETS = {"id_number": 0.995, "date_of_birth": 0.99, "sex": 0.995, "full_name": 0.95, "place_of_residence": 0.90}
DEFAULT_PROFILES = ("clean", "scan", "skewed", "rotated", "photo", "photocopy", "lowres", "faint", "jpeg")
WORLD_PROFILES = ("clean", "phone", "glare", "worn", "crop", "stretched", "sideways", "exif")


def _cases(n: int, seed: int, profiles: Sequence[str], design: str = "classic") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            {
                "index": i,
                "seed": rng.randrange(1 << 30),
                "generation": CARD_GENERATIONS[i % len(CARD_GENERATIONS)],
                "side": "front" if (i // len(CARD_GENERATIONS)) % 3 != 2 else "back",
                "profile": profiles[rng.randrange(len(profiles))],
                **({"design": design} if design != "classic" else {}),
            }
        )
    return out


def render_case(case: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """One case's generated card after its degradation profile: (PIL image, degradation, truth)."""
    rng = random.Random(case["seed"])
    if case.get("design") == "world":
        person = world_person(rng, case["generation"])
        img, truth = render_world_card(person, case["generation"], case["side"], rng)
        return (*capture(img, rng, case["profile"], kind="card"), truth)
    for _ in range(50):  # not every birth year can hold every generation: draw again
        try:
            person = make_person(rng, generation=case["generation"])
            break
        except ValueError:
            continue
    img, truth = render_card(person, case["generation"], case["side"], rng)
    degraded, params = degrade(img, rng, case["profile"], kind="card")
    return degraded, params, truth


def phenomena(truth: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """What made a world card hard: its capture profile, the card's own features (two-line values, red
    number, handwriting, no expiry) and what the capture did (glare, lamination, a thumb, a lettered
    surface such as a notebook next to the card, wear)."""
    tags = [f"profile:{params.get('profile')}"] + [f"card:{f}" for f in truth.get("features", [])]
    for key in ("glare", "laminated", "thumb_edge", "hand_shadow", "motion_blur", "exif_orientation"):
        if key in params:
            tags.append(f"capture:{key}")
    if params.get("surface") in LETTERED:
        tags.append("capture:lettered_surface")
    if params.get("surface"):
        tags.append(f"surface:{params['surface']}")
    tags += [f"wear:{w}" for w in params.get("wear", [])]
    return tags


def _run_case(case: dict[str, Any], oracle_crop: bool, ablate: tuple[str, ...]) -> dict[str, Any]:
    _apply_ablation(ablate)
    degraded, params, truth = render_case(case)
    t0, c0 = time.perf_counter(), time.process_time()
    if oracle_crop:
        a = cv2.cvtColor(np.asarray(degraded.convert("RGB")), cv2.COLOR_RGB2BGR)
        src = np.array(params["corners"], dtype=np.float32)
        dst = np.array([[0, 0], [1011, 0], [1011, 638], [0, 638]], dtype=np.float32)
        card = cv2.warpPerspective(a, cv2.getPerspectiveTransform(src, dst), (1012, 639))
        pages = [
            NormalisedPage(
                source="bench",
                page=1,
                sha256="0",
                kind="card",
                image=card,
                ocr_image=cv2.cvtColor(card, cv2.COLOR_BGR2GRAY),
            )
        ]
    else:
        data = encode_jpeg(degraded, params, quality=90)  # with the EXIF Orientation tag of an "exif" photo
        pages = [p for lp in imaging.load_pages(data, "bench.jpg") for p in imaging.normalise_page(lp)]
    expected = dict(truth["fields"])
    expected["doc_type"] = truth["doc_type"]
    expected = {k: expected[k] for k in SCORED if k in expected}
    tags = phenomena(truth, params) if case.get("design") == "world" else []
    try:
        docs = [read_document_detailed(p) for p in pages]
    except Exception as exc:  # a crash on one card is a miss to count, not the end of the run
        return {
            "case": case,
            "expected": expected,
            "got": {},
            "features": {},
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0,
            "warnings": [],
            "error": f"{type(exc).__name__}: {exc}",
            "tags": tags,
        }
    seconds = time.perf_counter() - t0
    # a sheet split into pieces: score the piece that was read as an identity card with most fields
    doc, feats = max(docs, key=lambda d: (d[0].doc_type != "unknown", len(d[0].fields)))
    got: dict[str, Any] = {}
    for name in SCORED:
        if name == "doc_type":
            got[name] = (doc.doc_type, doc.doc_type_confidence)
        elif name in doc.fields:
            got[name] = (doc.fields[name].value, doc.fields[name].confidence)
    return {
        "case": case,
        "expected": expected,
        "got": got,
        "features": {k: f for k, f in feats.items() if k in expected},
        "seconds": seconds,
        "cpu_seconds": time.process_time() - c0,
        "warnings": doc.warnings,
        "tags": tags,
    }


def _apply_ablation(ablate: tuple[str, ...]) -> None:
    """Switch pipeline steps off inside a worker process (benchmark only: measures what each step is worth)."""
    def keep_reading(words: list[str], choices: object = None) -> tuple[str, list[float], int]:
        return " ".join(words), [0.0] * len(words), 0

    if "lexicon" in ablate:
        setattr(lexicon, "correct_name", keep_reading)  # noqa: B010
    if "places" in ablate:
        setattr(places, "correct", lambda address: address)  # noqa: B010
    if "qr" in ablate:
        setattr(idcard, "parse_cccd_qr", lambda text: None)  # noqa: B010
    if "mrz" in ablate:
        setattr(idcard, "read_mrz", lambda image, reader, today=None: None)  # noqa: B010
    if "reread" in ablate:
        # the layout pass's reading wins: what reading each field's region again with its own settings is worth
        vote.VOTE.update({"ocr": 0.0, "ocr_alt": 0.0, "ocr_eng": 0.0, "lexicon": 0.0})


def _equal(name: str, got: Any, expected: Any) -> bool:
    return values_equal(got, expected)


def _char_accuracy(got: Any, expected: Any) -> float:
    a, b = clean(str(got or "")), clean(str(expected or ""))
    if not b:
        return 1.0 if not a else 0.0
    return max(0.0, 1.0 - Levenshtein.distance(a, b) / len(b))


def run(
    n: int, seed: int, workers: int, profiles: Sequence[str], oracle_crop: bool, ablate: tuple[str, ...],
    design: str = "classic",
) -> list[dict[str, Any]]:
    cases = _cases(n, seed, profiles, design)
    if workers <= 1:
        return [_run_case(c, oracle_crop, ablate) for c in cases]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_run_case, cases, [oracle_crop] * len(cases), [ablate] * len(cases), chunksize=4))


def report(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    per_field: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    by_profile: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    by_gen: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    char_acc: list[float] = []
    for r in results:
        for name, expected in r["expected"].items():
            value, confidence = r["got"].get(name, (None, 0.0))
            ok = _equal(name, value, expected) if name in r["got"] else expected is None and name != "doc_type"
            if name not in r["got"]:
                confidence = 0.0
            per_field[name].append((ok, float(confidence)))
            by_profile[r["case"]["profile"]][name].append(ok)
            by_gen[f"{r['case']['generation']}/{r['case']['side']}"][name].append(ok)
            if name == "place_of_residence":
                char_acc.append(_char_accuracy(value, expected))
    summary: dict[str, dict[str, float]] = {}
    print(
        f"\n{len(results)} cards, {np.mean([r['seconds'] for r in results]):.2f} s/card wall, "
        f"{np.mean([r.get('cpu_seconds', 0.0) for r in results]):.2f} s/card CPU (read stage, one core)"
    )
    crashed = [r for r in results if r.get("error")]
    for r in crashed:
        c = r["case"]
        print(f"  crashed: #{c['index']} {c['generation']}/{c['side']}/{c['profile']}: {r['error']}")
    print(f"\n{'field':<22}{'n':>5}{'exact':>9}{'target':>8}{'ECE':>8}{'mean conf':>11}")
    for name in SCORED:
        rows = per_field.get(name)
        if not rows:
            continue
        acc = float(np.mean([ok for ok, _ in rows]))
        probs = [c for _, c in rows]
        ece = expected_calibration_error(probs, [ok for ok, _ in rows])
        target = TARGETS.get(name)
        summary[name] = {"n": len(rows), "accuracy": acc, "ece": ece}
        print(
            f"{name:<22}{len(rows):>5}{acc:>9.3f}{(f'{target:.3f}' if target else ''):>8}{ece:>8.3f}{np.mean(probs):>11.3f}"
        )
    if char_acc:
        print(f"{'place_of_residence chars':<22}{len(char_acc):>5}{np.mean(char_acc):>9.3f}{0.98:>8.3f}")
    print("\nreliability (all calibrated fields): confidence bin -> count, accuracy")
    pooled = [(ok, c) for name in CALIBRATED for ok, c in per_field.get(name, [])]
    for lo, hi, count, acc in reliability_table([c for _, c in pooled], [ok for ok, _ in pooled], bins=10):
        print(f"  [{lo:.1f}, {hi:.1f}) {count:>6} {acc:>7.3f}")
    print("\nreliability per field: non-empty confidence bins as [bin) count accuracy/mean confidence")
    for name in CALIBRATED:
        rows = per_field.get(name)
        if not rows:
            continue
        cells = []
        for lo, hi, count, acc in reliability_table([c for _, c in rows], [ok for ok, _ in rows], bins=10):
            if count:
                mean = float(np.mean([c for _, c in rows if lo <= c < hi or (hi == 1.0 and c == 1.0)]))
                cells.append(f"[{lo:.1f},{hi:.1f}) {count} {acc:.2f}/{mean:.2f}")
        print(f"  {name:<20}" + "  ".join(cells))
    cols = [
        f
        for f in ("doc_type", "id_number", "full_name", "date_of_birth", "sex", "place_of_residence")
        if f in per_field
    ]
    for title, table in (("degradation", by_profile), ("generation/side", by_gen)):
        print(f"\naccuracy by {title}")
        print(f"{'':<26}{'n':>5}" + "".join(f"{c[:12]:>13}" for c in cols))
        for key in sorted(table):
            t = table[key]
            cells = "".join(f"{np.mean(t[c]):>13.3f}" if t.get(c) else f"{'-':>13}" for c in cols)
            print(f"{key:<26}{len(t.get('doc_type', [])):>5}{cells}")
    return summary


def _accuracy_by(results: list[dict[str, Any]]) -> dict[str, dict[str, list[bool]]]:
    """tag -> field -> right/wrong, over every scored field of the cards carrying the tag."""
    out: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        for name, expected in r["expected"].items():
            value = r["got"].get(name, (None, 0.0))[0]
            ok = _equal(name, value, expected) if name in r["got"] else expected is None and name != "doc_type"
            for tag in r.get("tags", []):
                out[tag][name].append(ok)
                out[tag]["(all fields)"].append(ok)
    return out


def report_phenomena(results: list[dict[str, Any]]) -> None:
    """Accuracy by what was on the card or done to it (world set), worst first: where the readers lose."""
    table = _accuracy_by(results)
    if not table:
        return
    cols = ["(all fields)", "doc_type", "id_number", "full_name", "date_of_birth", "place_of_residence"]
    print("\naccuracy by phenomenon (world set; a card counts under every tag it carries), worst first")
    print(f"{'':<30}{'cards':>6}" + "".join(f"{c[:12]:>13}" for c in cols))
    order = sorted(table, key=lambda t: float(np.mean(table[t]["(all fields)"])))
    for tag in order:
        t = table[tag]
        cells = "".join(f"{np.mean(t[c]):>13.3f}" if t.get(c) else f"{'-':>13}" for c in cols)
        print(f"{tag:<30}{len(t.get('doc_type', [])):>6}{cells}")


def compare(classic: dict[str, dict[str, float]], world: dict[str, dict[str, float]]) -> None:
    """Per-field accuracy of the classic renders next to the world renders, and the drop."""
    print("\nclassic renders vs world renders (same seed and size), exact-match accuracy per field")
    print(f"{'field':<22}{'n classic':>10}{'classic':>9}{'n world':>9}{'world':>8}{'drop':>8}")
    for name in SCORED:
        a, b = classic.get(name), world.get(name)
        if not a and not b:
            continue
        ca = f"{a['accuracy']:.3f}" if a else "-"
        wb = f"{b['accuracy']:.3f}" if b else "-"
        drop = f"{a['accuracy'] - b['accuracy']:+.3f}" if a and b else ""
        print(f"{name:<22}{int(a['n']) if a else 0:>10}{ca:>9}{int(b['n']) if b else 0:>9}{wb:>8}{drop:>8}")


def fit(n: int, seed: int, workers: int, profiles: Sequence[str], oracle_crop: bool) -> None:
    results = run(n, seed, workers, profiles, oracle_crop, ())
    samples = []
    for r in results:
        for name, f in r["features"].items():
            if not isinstance(f, Features) or name not in r["expected"] or name not in r["got"]:
                continue
            samples.append((f, _equal(name, r["got"][name][0], r["expected"][name])))
    weights = fit_model(samples, version=f"idcards-seed{seed}-n{n}")
    print(
        f"fitted the confidence model on {len(samples)} field readings from {n} cards (seed {seed}): {sorted(weights)}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench idcards", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--profiles", default=",".join(DEFAULT_PROFILES))
    ap.add_argument("--oracle-crop", action="store_true", help="cut the card out with the recorded corners")
    ap.add_argument("--fit", action="store_true", help="fit and store the confidence model first (separate seed)")
    ap.add_argument("--fit-n", type=int, default=400)
    ap.add_argument("--fit-seed", type=int, default=1011)
    ap.add_argument("--show-errors", action="store_true", help="print every wrong field (expected vs read)")
    ap.add_argument("--ablate", default="", help="comma list of steps to switch off: lexicon,places,qr,mrz,reread")
    ap.add_argument("--world", action="store_true",
                    help=f"realistic designs and captures (default profiles {','.join(WORLD_PROFILES)})")
    ap.add_argument("--compare", action="store_true",
                    help="run the classic set and the world set on the same seed; print them side by side")
    args = ap.parse_args(argv)
    if args.compare and args.profiles != ",".join(DEFAULT_PROFILES):
        ap.error("--compare uses each set's own default profiles; leave --profiles out")
    if args.world and args.profiles == ",".join(DEFAULT_PROFILES):
        args.profiles = ",".join(WORLD_PROFILES)
    profiles = tuple(p for p in args.profiles.split(",") if p)
    if args.fit:
        if args.fit_seed == args.seed:
            ap.error("--fit-seed must differ from --seed: calibration is checked on held-out cards")
        fit(args.fit_n, args.fit_seed, args.workers, profiles, args.oracle_crop)
    ablate = tuple(a for a in args.ablate.split(",") if a)
    sets = [("classic", DEFAULT_PROFILES), ("world", WORLD_PROFILES)] if args.compare else [
        ("world" if args.world else "classic", profiles)]
    summaries = {}
    for design, set_profiles in sets:
        started = time.perf_counter()
        results = run(args.n, args.seed, args.workers, set_profiles, args.oracle_crop, ablate, design)
        print(
            f"\n== {design} set: generated and read {len(results)} cards in {time.perf_counter() - started:.0f} s wall, "
            f"{args.workers} workers"
            + (f", ablated: {', '.join(ablate)}" if ablate else "")
            + (", oracle crop" if args.oracle_crop else "")
        )
        if args.show_errors:
            show_errors(results)
        summaries[design] = report(results)
        report_phenomena(results)
    if args.compare:
        compare(summaries["classic"], summaries["world"])
    return 0


def show_errors(results: list[dict[str, Any]]) -> None:
    for r in results:
        c = r["case"]
        for name, expected in r["expected"].items():
            value, confidence = r["got"].get(name, (None, 0.0))
            if not _equal(name, value, expected) or name not in r["got"]:
                print(
                    f"  #{c['index']} {c['generation']}/{c['side']}/{c['profile']} {name}: expected {expected!r} got {value!r} ({confidence:.2f})"
                )


if __name__ == "__main__":
    raise SystemExit(main())
