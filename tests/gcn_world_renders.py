"""The certificate reader tests' world pages: a page as `bench gcn --world` renders and captures it, read
end to end by the recorded reader."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from fixtures.capture import capture, encode_jpeg
from fixtures.certs import WorldCert, facing_page, make_world_cert, render_world_gcn_page
from models.document import Document
from models.settings import get_settings
from worker import imaging
from worker.extract import read_document
from worker.ocr import Reader


def read_world_page(
    cert_no: int,
    form: str,
    page: int,
    profile: str,
    reader: Reader,
    bench_seed: int = 23,
    edit: Callable[[WorldCert], WorldCert] | None = None,
) -> tuple[dict[str, Any], Document]:
    """One world certificate page as bench gcn --world --seed <bench_seed> renders and captures it (pages 1
    and 2 are always the first two of a certificate, so the page's index is page - 1); `edit` changes the
    certificate before it is drawn."""
    seed = bench_seed * 100003 + cert_no
    cert = make_world_cert(random.Random(seed), f"TD{cert_no:07d}", form=form)
    if edit is not None:
        cert = edit(cert)
    rng = random.Random(seed * 7 + page - 1)
    img, truth = render_world_gcn_page(cert, page, rng, dpi=200)
    facing = None
    opposite = facing_page(cert, page)
    if profile == "booklet" and opposite is not None:
        facing, _ = render_world_gcn_page(cert, opposite, random.Random(seed * 11), dpi=200)
    shot, deg = capture(img, rng, profile, kind="page", dpi=200, facing=facing)
    settings = get_settings()
    [loaded] = imaging.load_pages(encode_jpeg(shot, deg, quality=90), "t.jpg", settings=settings, sha256="0")
    # an open booklet may come out as two pages: the one read most from, as the benchmark scores it
    docs = [read_document(p, reader=reader) for p in imaging.normalise_page(loaded, settings=settings, reader=reader)]
    return truth, max(docs, key=lambda d: len(d.fields) + len(d.owners))
