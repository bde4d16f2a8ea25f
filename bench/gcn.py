"""Certificate (GCN) benchmark: per-field accuracy and calibration on generated certificates of every form
and degradation, plus accuracy by form and by degradation profile.

    python -m bench gcn [--n 200] [--seed 23] [--workers 2] [--forms gcn_pre2009,gcn_2009,gcn_2024_qr]
                        [--profiles clean,scan,...] [--oracle-warp] [--fit] [--fit-n 120] [--fit-seed 1023]
                        [--errors 20] [--world] [--compare]

Each certificate page is rendered by fixtures/gcn_pages.py, degraded by fixtures/degrade.py (the generator's page
profile weights unless --profiles is given), JPEG-encoded, then read through the real path: worker.imaging
(load + normalise) and worker.extract.gcn.extract_gcn with its own layout OCR. `--oracle-warp` instead warps
the page upright with the generator's recorded corners, to measure this stage apart from page
normalisation. `--fit` first fits the confidence model on a separate seed (never the evaluation seed) and
writes worker/extract/gcn/gcn_confidence.json.

`--world` renders the certificates the way they really are (fixtures/certs: pink drum guilloche, red
condensed serials, handwritten registry numbers and dates, seals and certified-copy stamps over text,
filled changes pages, page 4, supplement pages, cadastral extracts, households and several owners, the 1993
form) and captures them as they arrive (colour scans, phone photos, open booklets, photocopies); it adds
accuracy by phenomenon and how handwritten fields were reported. `--compare` runs the classic and the
world set on the same seed and prints them side by side per field.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fixtures.capture import capture, encode_jpeg
from fixtures.certs import facing_page, make_world_cert, render_world_gcn_page, world_pages
from fixtures.degrade import degrade
from fixtures.gcn import make_parcel
from fixtures.gcn_pages import PAGES, render_gcn_page
from fixtures.samples import DEGRADE_WEIGHTS
from fixtures.scoring import values_equal
from fixtures.textures import LETTERED
from models.pages import NormalisedPage
from models.settings import Settings
from worker import imaging
from worker.extract import calibration
from worker.extract.confidence import fit_logistic
from worker.extract.gcn import extract_gcn_detailed, family_of
from worker.extract.gcn.evidence import DEFAULT_WEIGHTS, FEATURE_NAMES, MODEL, held_ceiling, is_held

FORMS = ("gcn_pre2009", "gcn_2009", "gcn_2024_qr")
TARGETS = {
    "certificate_serial": 0.995,
    "parcel_number": 0.995,
    "map_sheet_number": 0.995,
    "area_m2": 0.995,
    "owner.full_name": 0.95,
    "parcel_address": 0.90,
}
IGNORED = frozenset({"certificate_form"})  # scored separately as the form detection rate
_IMAGING_WARNINGS = ("quality:", "perspective:", "orientation:", "split:", "skew:")
WORLD_PROFILES = ("clean", "colour_scan", "phone", "booklet", "photocopy")


def _cases(n: int, seed: int, forms: Sequence[str], profiles: Sequence[str] | None) -> list[dict[str, Any]]:
    """One case per page of n certificates (forms round-robin, so every form gets n/len(forms))."""
    rng = random.Random(seed)
    weights = DEGRADE_WEIGHTS["page"]
    cases = []
    for i in range(n):
        form = forms[i % len(forms)]
        n_pages = PAGES[form] if form != "gcn_2009" or rng.random() < 0.3 else 2
        for page in range(1, n_pages + 1):
            if profiles:
                profile = rng.choice(list(profiles))
            else:
                profile = rng.choices(list(weights), weights=list(weights.values()))[0]
            cases.append({"cert": i, "form": form, "page": page, "profile": profile, "seed": seed * 100003 + i})
    return cases


def _world_cases(n: int, seed: int, forms: Sequence[str], profiles: Sequence[str] | None) -> list[dict[str, Any]]:
    """One case per page of n world certificates: pages 1 and 2 always, the sketch/changes page, page 4,
    a supplement page and a cadastral extract some of the time."""
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        form = forms[i % len(forms)]
        cert_seed = seed * 100003 + i
        pages = world_pages(make_world_cert(random.Random(cert_seed), form=form))
        keep = {1: 1.0, 2: 1.0, 3: 0.5, 4: 0.15, "supplement": 0.15, "extract": 0.15}
        for k, page in enumerate(pages):
            if rng.random() >= keep.get(page, 0.0):
                continue
            profile = rng.choice(list(profiles or WORLD_PROFILES))
            cases.append({"cert": i, "form": form, "page": page, "page_index": k, "profile": profile,
                          "seed": cert_seed, "design": "world"})
    return cases


def _render_world(case: dict[str, Any]) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    cert = make_world_cert(random.Random(case["seed"]), f"TD{case['cert']:07d}", form=case["form"])
    page_rng = random.Random(case["seed"] * 7 + case["page_index"])
    img, truth = render_world_gcn_page(cert, case["page"], page_rng, dpi=200)
    facing = None
    opposite = facing_page(cert, case["page"])
    if case["profile"] == "booklet" and opposite is not None:
        facing, _ = render_world_gcn_page(cert, opposite, random.Random(case["seed"] * 11), dpi=200)
    dimg, deg = capture(img, page_rng, case["profile"], kind="page", dpi=200, facing=facing)
    return encode_jpeg(dimg, deg, quality=90), truth, deg


def page_phenomena(truth: dict[str, Any], deg: dict[str, Any]) -> list[str]:
    """What made a world page hard: capture profile, layout, the page's own features, what the capture did."""
    tags = [f"profile:{deg.get('profile')}", f"layout:{truth.get('layout')}"]
    tags += [f"page:{f}" for f in truth.get("features", [])]
    for key in ("seal_box", "glare", "hand_shadow", "booklet", "motion_blur"):
        if key in deg:
            tags.append(f"capture:{key}")
    if deg.get("surface") in LETTERED:
        tags.append("capture:lettered_surface")
    return tags


def _render(case: dict[str, Any]) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    if case.get("design") == "world":
        return _render_world(case)
    rng = random.Random(case["seed"])
    parcel = make_parcel(rng, f"TD{case['cert']:07d}", form=case["form"])
    page_rng = random.Random(case["seed"] * 7 + case["page"])
    img, truth = render_gcn_page(parcel, case["form"], case["page"], page_rng, dpi=200)
    dimg, deg = degrade(img, page_rng, case["profile"], kind="page", dpi=200)
    buf = io.BytesIO()
    dimg.save(buf, "JPEG", quality=90)
    return buf.getvalue(), truth, deg


def _oracle_pages(data: bytes, deg: dict[str, Any]) -> list[Any]:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    w, h = 1654, 2339
    src = np.float32(deg["corners"])
    dst = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    up = cv2.warpPerspective(arr, cv2.getPerspectiveTransform(src, dst), (w, h), flags=cv2.INTER_CUBIC)
    grey = cv2.cvtColor(up, cv2.COLOR_BGR2GRAY)
    return [NormalisedPage(source="bench.jpg", page=1, sha256="0", kind="page", image=up, ocr_image=grey)]


def _run_case(case: dict[str, Any], oracle: bool) -> dict[str, Any]:
    data, truth, deg = _render(case)
    settings = Settings()
    started = time.perf_counter()
    cpu_started = time.process_time()
    error = None
    try:
        if oracle:
            pages = _oracle_pages(data, deg)
        else:
            loaded = imaging.load_pages(data, "bench.jpg", settings=settings)
            pages = [p for lp in loaded for p in imaging.normalise_page(lp, settings=settings)]
        if case.get("design") == "world" and len(pages) > 1:
            # an open booklet may come out as two pages: score the one the reader got most from
            reads = [extract_gcn_detailed(pg, None, settings) for pg in pages]
            doc, evidence = max(reads, key=lambda d: len(d[0].fields) + len(d[0].owners))
        else:
            doc, evidence = extract_gcn_detailed(pages[0], None, settings)
    except Exception as exc:  # a crash is a result to count, not a reason to stop the benchmark
        doc, evidence, error = None, {}, f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rows = []
    handwritten = set(truth.get("handwritten", []))

    def observe(name: str, key: str, fv: Any, expected: Any, warn_name: str) -> None:
        ev = evidence.get(key)
        got = fv.value if fv else None
        rows.append(
            {
                "field": name,
                "got": got,
                "expected": expected,
                "conf": fv.confidence if fv else 0.0,
                "ok": values_equal(got, expected),
                "family": family_of(name),
                "vector": ev.vector() if ev is not None else None,
                "held": ev is not None and not ev.handwritten and is_held(ev),
                "sources": list(fv.sources) if fv else [],
                "warn_name": warn_name,  # how a warning names the field (bench calibrate's `warned`)
                **({"handwritten": True} if name in handwritten else {}),
            }
        )

    for name, expected in truth["fields"].items():
        if name in IGNORED or expected is None:
            continue
        observe(name, name, doc.fields.get(name) if doc else None, expected, name)
    for i, owner in enumerate(truth["owners"]):
        got_owner = doc.owners[i] if doc and i < len(doc.owners) else {}
        for name, expected in owner.items():
            if expected is None:
                continue
            observe(f"owner.{name}", f"owners[{i}].{name}", got_owner.get(name), expected, f"owner_{i + 1}_{name}")
    form_got = doc.value("certificate_form") if doc else None
    return {
        "case": case,
        "doc_type": doc.doc_type if doc else None,
        "doc_type_ok": doc is not None and doc.doc_type == truth["doc_type"],
        "form_ok": form_got == truth["certificate_form"],
        "rows": rows,
        "warnings": doc.warnings if doc else [],
        "seconds": seconds,
        "cpu_seconds": cpu,
        "error": error,
        "seal": "seal_box" in deg,
        "tags": page_phenomena(truth, deg) if case.get("design") == "world" else [],
        "flagged_handwriting": any("handwritten" in w for w in (doc.warnings if doc else [])),
    }


def run(cases: list[dict[str, Any]], workers: int, oracle: bool) -> list[dict[str, Any]]:
    if workers <= 1:
        return [_run_case(c, oracle) for c in cases]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_run_case, cases, [oracle] * len(cases), chunksize=2))


def ece(pairs: list[tuple[float, bool]], bins: int = 10) -> float:
    if not pairs:
        return float("nan")
    total = len(pairs)
    out = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inb = [(c, ok) for c, ok in pairs if lo <= c < hi or (b == bins - 1 and c >= 1.0)]
        if inb:
            out += len(inb) / total * abs(np.mean([c for c, _ in inb]) - np.mean([ok for _, ok in inb]))
    return float(out)


def report(results: list[dict[str, Any]], errors: int = 0) -> dict[str, Any]:
    by_field: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    by_form: dict[str, list[bool]] = defaultdict(list)
    by_profile: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        for row in r["rows"]:
            by_field[row["field"]].append((row["conf"], row["ok"]))
            by_form[r["case"]["form"]].append(row["ok"])
            by_profile[r["case"]["profile"]].append(row["ok"])
    certs = {r["case"]["cert"] for r in results}
    pages = len(results)
    secs = [r["seconds"] for r in results]
    cpu = [r.get("cpu_seconds", float("nan")) for r in results]
    print(f"\nGCN benchmark: {len(certs)} certificates, {pages} pages, "
          f"{sum(1 for r in results if r['error'])} crashes, {np.mean(secs):.2f} s/page wall mean "
          f"(p95 {np.percentile(secs, 95):.2f} s), {np.mean(cpu):.2f} CPU-s/page (imaging + OCR + extraction)")  # fmt: skip
    print(f"doc_type accuracy {np.mean([r['doc_type_ok'] for r in results]):.4f}   "
          f"certificate_form accuracy {np.mean([r['form_ok'] for r in results]):.4f}")  # fmt: skip
    print(f"\n{'field':<22} {'n':>5} {'accuracy':>9} {'target':>7} {'ECE':>7} {'mean conf':>9}  conf>=0.9: n / acc")
    summary: dict[str, Any] = {}
    for name in sorted(by_field):
        pairs = by_field[name]
        acc = float(np.mean([ok for _, ok in pairs]))
        hi = [ok for c, ok in pairs if c >= 0.9]
        target = TARGETS.get(name)
        flag = "" if target is None else ("  ok" if acc >= target else "  BELOW")
        print(f"{name:<22} {len(pairs):>5} {acc:>9.4f} {target if target else '':>7} {ece(pairs):>7.4f} "
              f"{np.mean([c for c, _ in pairs]):>9.3f}  {len(hi):>5} / {np.mean(hi) if hi else float('nan'):.4f}{flag}")  # fmt: skip
        summary[name] = {"n": len(pairs), "accuracy": acc, "ece": ece(pairs)}
    print(f"\n{'form':<14} {'fields':>6} {'accuracy':>9}")
    for form in sorted(by_form):
        print(f"{form:<14} {len(by_form[form]):>6} {np.mean(by_form[form]):>9.4f}")
    print(f"\n{'profile':<11} {'pages':>5} {'fields':>6} {'accuracy':>9}")
    page_counts = Counter(r["case"]["profile"] for r in results)
    for prof in sorted(by_profile):
        print(f"{prof:<11} {page_counts[prof]:>5} {len(by_profile[prof]):>6} {np.mean(by_profile[prof]):>9.4f}")
    seal = [row["ok"] for r in results if r["seal"] for row in r["rows"]]
    if seal:
        print(
            f"pages with an extra seal over text: {sum(r['seal'] for r in results)}, field accuracy {np.mean(seal):.4f}"
        )
    # the generated certificates are consistent (words = digits, ID = birth year, no handwriting, no changes):
    # every extraction warning on them is a false alarm a reviewer would have to clear
    alarms: Counter[str] = Counter()
    for r in results:
        for w in {w.split(":")[0] for w in r["warnings"] if not w.startswith(_IMAGING_WARNINGS)}:
            alarms[w] += 1
    # world certificates do carry handwriting and recorded changes: those warnings are right there
    title = ("extraction warnings (world pages: handwritten_entry and certificate_changes_recorded can be right)"
             if any(r.get("tags") for r in results) else "false alarms (extraction warnings on consistent certificates)")
    print(f"\n{title}: {sum(alarms.values())} "
          f"on {sum(1 for r in results if any(not w.startswith(_IMAGING_WARNINGS) for w in r['warnings']))} "
          f"of {pages} pages")  # fmt: skip
    for w, n in alarms.most_common():
        print(f"  {w:<40} {n:>4}")
    print("\nreliability (all fields): confidence bin -> n, accuracy")
    allp = [p for ps in by_field.values() for p in ps]
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        inb = [ok for c, ok in allp if lo <= c < hi or (b == 9 and c >= 1.0)]
        if inb:
            print(f"  [{lo:.1f}, {hi:.1f})  {len(inb):>5}  {np.mean(inb):.4f}")
    print(f"overall ECE {ece(allp):.4f}")
    if (final := final_confidences(results)) is not None:
        wrong = sum(1 for c, ok in final if c >= 0.9 and not ok)
        print(f"overall ECE after the calibration step (calibration.json, as documents are given) {ece(final):.4f}, "
              f"wrong at >= 0.9 {wrong}")  # fmt: skip
    if held := _held_rows(results):
        print(f"values held for review (a failed check or a doubt): {len(held)}, right {np.mean(held):.4f}, "
              f"their ceiling {held_ceiling():.3f}")  # fmt: skip
    summary["doc_type"] = {"n": pages, "accuracy": float(np.mean([r["doc_type_ok"] for r in results]))}
    if errors:
        shown = 0
        print("\nerrors (first ones):")
        for r in results:
            for row in r["rows"]:
                if not row["ok"] and shown < errors:
                    shown += 1
                    c = r["case"]
                    print(f"  #{c['cert']} {c['form']} p{c['page']} {c['profile']:<9} {row['field']:<18} got {row['got']!r} "
                          f"(conf {row['conf']:.2f}) expected {row['expected']!r}")  # fmt: skip
            if r["error"] and shown < errors:
                shown += 1
                print(f"  crash {r['case']}: {r['error']}")
    return summary


def final_confidences(
    results: list[dict[str, Any]], cal: calibration.Calibrator | None = None
) -> list[tuple[float, bool]] | None:
    """Every scored row's confidence as a document gives it: the readers' (what this benchmark reads) mapped by
    the stored calibrator as worker/extract/document.py does; None without one (or rows dumped without the
    evidence it needs)."""
    cal = calibration.stored_calibrator() if cal is None else cal
    rows = [(r, row) for r in results for row in r["rows"]]
    if not cal.weights or any("warn_name" not in row for _, row in rows):
        return None
    out = []
    for r, row in rows:
        conf = row["conf"]
        if row["got"] not in (None, "", []):
            family = calibration.family_of(r.get("doc_type") or "unknown", row["field"])
            warned = calibration.warned(row["warn_name"], r.get("warnings") or [])
            conf = cal.apply(family, conf, warned, calibration.code_backed(row.get("sources") or []))
        out.append((conf, bool(row["ok"])))
    return out


def report_world(results: list[dict[str, Any]]) -> None:
    """World set only: accuracy by phenomenon (worst first), and what the readers did with handwriting."""
    by_tag: dict[str, list[bool]] = defaultdict(list)
    pages_by_tag: Counter[str] = Counter()
    doc_ok: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        for tag in r.get("tags", []):
            pages_by_tag[tag] += 1
            doc_ok[tag].append(r["doc_type_ok"])
            by_tag[tag].extend(row["ok"] for row in r["rows"])
    if not pages_by_tag:
        return
    print("\naccuracy by phenomenon (world set; a page counts under every tag it carries), worst first")
    print(f"{'':<34}{'pages':>6}{'doc_type':>10}{'fields':>8}{'accuracy':>10}")
    for tag in sorted(pages_by_tag, key=lambda t: float(np.mean(by_tag[t])) if by_tag[t] else 2.0):
        acc = f"{np.mean(by_tag[tag]):.4f}" if by_tag[tag] else "-"
        print(f"{tag:<34}{pages_by_tag[tag]:>6}{np.mean(doc_ok[tag]):>10.3f}{len(by_tag[tag]):>8}{acc:>10}")
    hand = [row for r in results for row in r["rows"] if row.get("handwritten")]
    if hand:
        right = sum(row["ok"] for row in hand)
        sure_wrong = sum(1 for row in hand if not row["ok"] and row["conf"] >= 0.9)
        flagged = sum(1 for r in results if r["flagged_handwriting"] and any(row.get("handwritten") for row in r["rows"]))
        with_hand = sum(1 for r in results if any(row.get("handwritten") for row in r["rows"]))
        print(f"\nhandwritten fields: {len(hand)}, right {right}, wrong at confidence >= 0.9: {sure_wrong} "
              f"(target 0); pages with handwriting flagged by a warning: {flagged} of {with_hand}")
        for name in sorted({row["field"] for row in hand}):
            rows = [row for row in hand if row["field"] == name]
            print(f"  {name:<20} n {len(rows):>4}  right {np.mean([x['ok'] for x in rows]):.3f}  "
                  f"mean conf {np.mean([x['conf'] for x in rows]):.3f}")


def compare(classic: dict[str, Any], world: dict[str, Any]) -> None:
    """Per-field accuracy of the classic renders next to the world renders, and the drop."""
    print("\nclassic renders vs world renders (same seed and size), accuracy per field")
    print(f"{'field':<22}{'n classic':>10}{'classic':>9}{'n world':>9}{'world':>8}{'drop':>8}")
    for name in sorted(set(classic) | set(world)):
        a, b = classic.get(name), world.get(name)
        ca = f"{a['accuracy']:.3f}" if a else "-"
        wb = f"{b['accuracy']:.3f}" if b else "-"
        drop = f"{a['accuracy'] - b['accuracy']:+.3f}" if a and b else ""
        print(f"{name:<22}{a['n'] if a else 0:>10}{ca:>9}{b['n'] if b else 0:>9}{wb:>8}{drop:>8}")


# features whose weight has a known sign: a fit on data that never shows them failing cannot flip them
_SIGNS = {"valid": 1, "agree": 1, "disagree": -1, "check_ok": 1, "check_bad": -1}


def fit_weights(results: list[dict[str, Any]], l2: float = 2.0) -> dict[str, list[float]]:
    """Logistic regression per field family, regularised towards the hand-set weights (Newton's method,
    a Gaussian prior centred on worker.extract.gcn.evidence.DEFAULT_WEIGHTS): where the generated data shows a
    feature at work the data decides, where it never does (a cross-check that never failed) the prior
    stays. Signs that must hold (agreement raises, contradiction lowers) are enforced afterwards."""
    by_fam: dict[str, list[tuple[list[float], bool]]] = defaultdict(list)
    for r in results:
        for row in r["rows"]:
            if row["vector"] is not None:
                by_fam[row["family"]].append((row["vector"], row["ok"]))
    weights: dict[str, list[float]] = {}
    for fam, data in sorted(by_fam.items()):
        prior = np.array(DEFAULT_WEIGHTS.get(fam, DEFAULT_WEIGHTS["other"]), float)
        x = np.array([v for v, _ in data], float)
        y = np.array([ok for _, ok in data], float)
        w = fit_logistic(x, y, prior=prior, l2=l2, bias_l2=0.05, iters=100)
        for k, name in enumerate(FEATURE_NAMES):
            sign = _SIGNS.get(name)
            if sign is not None and w[k] * sign < 0:
                w[k] = prior[k]
        weights[fam] = [round(float(v), 4) for v in w]
        print(f"fitted {fam:<8} on {len(data):>5} fields ({int(y.sum())} right): {weights[fam]}")
    return weights


def rescore(results: list[dict[str, Any]], weights: dict[str, list[float]]) -> None:
    """Recompute every confidence from its stored evidence vector with other weights (no OCR rerun)."""
    for r in results:
        for row in r["rows"]:
            if row["vector"] is None:
                continue
            w = weights.get(row["family"], weights.get("other"))
            z = sum(a * b for a, b in zip(w, row["vector"], strict=True))
            row["conf"] = min(0.995, max(0.005, 1 / (1 + math.exp(-z))))
            if row.get("held"):
                row["conf"] = min(row["conf"], held_ceiling())


def _held_rows(results: list[dict[str, Any]]) -> list[bool]:
    """Right or wrong, each value given that was held for review (a failed rule or cross-check, a doubt)."""
    return [ok for _, ok in _held_values(results)]


def _held_values(results: list[dict[str, Any]]) -> list[tuple[float, bool]]:
    """Each held value given: the model's probability from its evidence (before any ceiling), right or wrong."""
    return [
        (MODEL.probability(row["family"], row["vector"]) if row.get("vector") else 1.0, bool(row["ok"]))
        for r in results
        for row in r["rows"]
        if row.get("held") and row["got"] not in (None, "")
    ]


def fit_held_ceiling(results: list[dict[str, Any]], min_values: int = 30) -> dict[str, Any]:
    """What a held value's confidence may be at most, so that it is a promise kept on pages like the fit set's.
    A held value is given min(p, ceiling): the values the ceiling caps are those whose evidence gives p at or
    above it, the others keep their own lower p. So the ceiling is the share right of the values it caps: from
    the share of all held values, raised to the share of those at or above it until that stops rising (the
    first such fixed point; never on fewer than `min_values` values)."""
    held = _held_values(results)
    if len(held) < min_values:
        raise SystemExit(f"only {len(held)} held values in the fit set: fit on more certificates (--fit-n)")
    share_all = sum(ok for _, ok in held) / len(held)
    ceiling = share_all
    for _ in range(100):
        capped = [ok for p, ok in held if p >= ceiling]
        if len(capped) < min_values or sum(capped) / len(capped) <= ceiling + 1e-9:
            break
        ceiling = sum(capped) / len(capped)
    capped_n = sum(p >= ceiling for p, _ in held)
    return {
        "share_right": round(ceiling, 3),
        "values": len(held),
        "capped": capped_n,
        "share_right_of_all_held": round(share_all, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench gcn", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="certificates (each 2-3 pages)")
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--forms", default=",".join(FORMS))
    ap.add_argument("--profiles", default="", help="comma list; default: the generator's page weights")
    ap.add_argument("--oracle-warp", action="store_true", help="warp pages upright with the recorded corners")
    ap.add_argument("--fit", action="store_true", help="fit and store the confidence model first")
    ap.add_argument("--fit-ceiling", action="store_true",
                    help="measure the held values' share right on the fit set (with --world: world renders) and "
                    "store it as their confidence ceiling; the weights are kept")
    ap.add_argument("--fit-n", type=int, default=120)
    ap.add_argument("--fit-seed", type=int, default=1023)
    ap.add_argument("--errors", type=int, default=0, help="print the first N wrong fields")
    ap.add_argument("--json", default="", help="write the per-field summary to this file")
    ap.add_argument("--dump", default="", help="write the raw results (evidence vectors included) here")
    ap.add_argument("--fit-from", default="", help="fit on results dumped earlier instead of reading pages")
    ap.add_argument("--from", dest="from_file", default="", help="report results dumped earlier (rescored)")
    ap.add_argument("--world", action="store_true",
                    help=f"realistic certificates and captures (default profiles {','.join(WORLD_PROFILES)})")
    ap.add_argument("--compare", action="store_true",
                    help="run the classic set and the world set on the same seed; print them side by side")
    args = ap.parse_args(argv)
    if args.compare and (args.profiles or args.from_file or args.fit):
        ap.error("--compare runs each set with its own default profiles; leave --profiles, --from and --fit out")
    forms = [f for f in args.forms.split(",") if f]
    profiles = [p for p in args.profiles.split(",") if p] or None
    if args.fit and args.fit_ceiling:
        ap.error("--fit fits the weights, --fit-ceiling the held values' ceiling: run them one after the other")
    if args.fit or args.fit_ceiling:
        if args.fit_seed == args.seed:
            ap.error("--fit-seed must differ from --seed (fit and evaluate on different certificates)")
        if args.fit_from:
            fit_results = json.loads(Path(args.fit_from).read_text(encoding="utf-8"))
        else:
            make_fit = _world_cases if args.world and args.fit_ceiling else _cases
            fit_results = run(make_fit(args.fit_n, args.fit_seed, forms, profiles), args.workers, args.oracle_warp)
            if args.dump:
                with open(args.dump + ".fit", "w", encoding="utf-8") as fh:
                    json.dump(fit_results, fh, default=str)
        kept = {k: v for k, v in MODEL.stored.items() if k not in ("features", "weights")}
        fitted_on = {"n": args.fit_n, "seed": args.fit_seed, "pages": len(fit_results)}
        if args.fit_ceiling:
            ceiling = {**fit_held_ceiling(fit_results), "fitted_on": {**fitted_on, "world": args.world}}
            print(f"held values on the fit set: {ceiling['values']}, right {ceiling['share_right_of_all_held']:.3f}; "
                  f"of the {ceiling['capped']} the ceiling caps right {ceiling['share_right']:.3f}: the ceiling")
            weights = MODEL.stored.get("weights") or {k: list(v) for k, v in MODEL.weights.items()}
            MODEL.save(weights, **{**kept, "held_ceiling": ceiling})
        else:
            MODEL.save(fit_weights(fit_results), **{**kept, "fitted_on": fitted_on})
        print(f"wrote {MODEL.path}")
    started = time.perf_counter()
    if args.from_file:
        results = json.loads(Path(args.from_file).read_text(encoding="utf-8"))
        MODEL.reload()
        rescore(results, {fam: list(w) for fam, w in MODEL.weights.items()})
    elif args.compare:
        classic = run(_cases(args.n, args.seed, forms, None), args.workers, args.oracle_warp)
        print("\n== classic set")
        classic_summary = report(classic, args.errors)
        results = run(_world_cases(args.n, args.seed, forms, None), args.workers, args.oracle_warp)
        print("\n== world set")
    else:
        make = _world_cases if args.world else _cases
        results = run(make(args.n, args.seed, forms, profiles), args.workers, args.oracle_warp)
        if args.dump:
            with open(args.dump, "w", encoding="utf-8") as fh:
                json.dump(results, fh, default=str)
    summary = report(results, args.errors)
    report_world(results)
    if args.compare:
        compare(classic_summary, summary)
    print(f"\nwall {time.perf_counter() - started:.0f} s with {args.workers} worker(s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
