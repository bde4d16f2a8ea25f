"""Reading a registry export: encoding detection, chunks of whole CSV records, and their normalisation in
this process or in worker processes."""

from __future__ import annotations

import codecs
import csv
import io
import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import ErrorCode
from models.registry import REGISTRY_CSV_COLUMNS
from worker.errors import IntakeError
from worker.store.registry.report import ImportReport
from worker.store.registry.rows import Columns, ProgressFn, RawChunk, RowError, make_normaliser
from worker.store.registry.vbdlis_xml import XML_HEADER, is_xml, xml_chunks


def _detect_file_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the file decodes as such, else cp1252: legacy exports are 8-bit,
    and their TCVN3/VNI bytes then arrive as Latin-1 look-alikes that the per-value repair understands."""
    with path.open("rb") as fh:
        head = fh.read(4 << 20)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the 4 MB boundary
            return "cp1252"
    return "utf-8"


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes undefined; keep them as their Latin-1 code points so that a value holding
    # UTF-8 decoded twice can still be repaired byte for byte
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error("intake_latin1", _latin1_fallback)


@dataclass
class BatchResult:
    # (line, parcel tuple, owner tuple or None): plain tuples, since they are pickled back from the workers by
    # the million and unpickling was a fifth of the importing process's CPU time
    rows: list[tuple[int, tuple[Any, ...], tuple[Any, ...] | None]]
    rows_read: int
    skipped: list[tuple[int, str]]
    warnings: Counter[str]
    repaired: Counter[str]
    rows_repaired: int


class ChunkNormaliser:
    """Parses and normalises chunks of the CSV; runs in the importing process or in worker processes, so
    the importing process only reads bytes and writes the database."""

    def __init__(self, header: list[str], encoding: str) -> None:
        self.report = ImportReport(source="")
        self.columns = Columns(header)
        self.width = len(header)
        self.encoding = encoding
        self.errors = "strict" if encoding.startswith("utf-8") else "intake_latin1"
        self.prefer: str | None = None
        self.seen_encodings: Counter[str] = Counter()

    def __call__(self, chunk: RawChunk) -> BatchResult:
        first_line, data = chunk
        normalise = make_normaliser(self.columns, self.report)
        out: list[tuple[int, tuple[Any, ...], tuple[Any, ...] | None]] = []
        skipped: list[tuple[int, str]] = []
        repaired: Counter[str] = Counter()
        rows_read = rows_repaired = 0
        numbered: Iterable[tuple[int, list[str]]]
        if isinstance(data, bytes):
            reader = csv.reader(io.StringIO(data.decode(self.encoding, self.errors), newline=""))
            numbered = ((first_line + reader.line_num - 1, row) for row in reader)
        else:
            numbered = data
        width = self.width
        for line, row in numbered:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines are not rows
            rows_read += 1
            if len(row) != width:
                skipped.append((line, f"{len(row)} columns, header has {width}"))
                continue
            try:
                normalised = normalise(row, self.prefer)
            except RowError as exc:
                skipped.append((line, str(exc)))
                continue
            if normalised.repaired:
                rows_repaired += 1
                repaired.update(normalised.repaired.values())
                self.seen_encodings.update(normalised.repaired.values())
                # ties between decoders go to the encoding this file has used so far
                self.prefer = self.seen_encodings.most_common(1)[0][0]
            out.append((line, normalised.parcel, normalised.owner))
        warnings = self.report.warnings
        self.report.warnings = Counter()
        return BatchResult(out, rows_read, skipped, warnings, repaired, rows_repaired)


_WORKER: ChunkNormaliser | None = None


def _worker_init(header: list[str], encoding: str) -> None:
    global _WORKER
    _WORKER = ChunkNormaliser(header, encoding)


def _worker_run(chunk: RawChunk) -> BatchResult:
    assert _WORKER is not None
    return _WORKER(chunk)


def _raw_chunks(fh: Any, first_line: int, chunk_bytes: int) -> Iterator[RawChunk]:
    """Whole CSV records in chunks of about `chunk_bytes`: cut at a line end outside any quoted field (an
    even number of quote characters so far), so a field with a line break in it stays in one chunk."""
    line = first_line
    pending = b""
    while True:
        block = fh.read(chunk_bytes)
        if not block:
            break
        data = pending + block
        cut = data.rfind(b"\n") + 1
        while cut > 0 and data.count(b'"', 0, cut) % 2:
            cut = data.rfind(b"\n", 0, cut - 1) + 1
        if cut <= 0:
            pending = data  # one record longer than a block: read on
            continue
        chunk, pending = data[:cut], data[cut:]
        yield line, chunk
        line += chunk.count(b"\n")
    if pending.strip():
        yield line, pending


def read_rows(
    path: Path, report: ImportReport, progress: ProgressFn | None, batch_size: int, workers: int
) -> Iterator[list[tuple[int, tuple[Any, ...], tuple[Any, ...] | None]]]:
    if is_xml(path):
        report.position = "record"
        report.file_encoding = "xml"
        normaliser = ChunkNormaliser(list(XML_HEADER), "utf-8")
        for chunk in xml_chunks(path, report, batch_size):
            result = normaliser(chunk)
            _account(report, result)
            yield result.rows
            if progress:
                progress(report.rows_read)
        return
    encoding = _detect_file_encoding(path)
    report.file_encoding = encoding
    errors = "strict" if encoding.startswith("utf-8") else "intake_latin1"
    with path.open("rb") as fh:
        head = fh.readline()
        try:
            header_text = head.decode(encoding, errors)
        except UnicodeDecodeError:
            raise IntakeError(ErrorCode.UNSUPPORTED_FORMAT, f"{path.name}: the header is not text") from None
        header = [h.strip().lower() for h in next(csv.reader([header_text]), [])]
        if not header:
            raise IntakeError(ErrorCode.EMPTY_FILE, f"{path.name}: empty registry file")
        missing = [c for c in REGISTRY_CSV_COLUMNS if c not in header]
        if "parcel_id" in missing:
            raise IntakeError(
                ErrorCode.UNSUPPORTED_FORMAT,
                f"{path.name}: not a registry export (no parcel_id column; expected header {','.join(REGISTRY_CSV_COLUMNS)})",
            )
        for column in missing:
            report.warnings[f"column {column} missing from the header"] += 1
        # about batch_size rows per chunk (registry rows are ~250 bytes)
        chunks = _raw_chunks(fh, 2, batch_size * 256)
        pool = None
        in_flight = threading.BoundedSemaphore(2 * workers + 1)
        if workers >= 1:
            # spawn, not fork: the importing process may hold database connections and threads
            pool = multiprocessing.get_context("spawn").Pool(workers, _worker_init, (header, encoding))

            def throttled() -> Iterator[RawChunk]:
                # Pool.imap reads its input as fast as it can: without a bound the whole file would be
                # queued in memory ahead of the workers
                for chunk in chunks:
                    in_flight.acquire()
                    yield chunk

            results: Iterable[BatchResult] = pool.imap(_worker_run, throttled())
        else:
            results = map(ChunkNormaliser(header, encoding), chunks)
        try:
            for result in results:
                if pool is not None:
                    in_flight.release()
                _account(report, result)
                yield result.rows
                if progress:
                    progress(report.rows_read)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()


def _account(report: ImportReport, result: BatchResult) -> None:
    report.rows_read += result.rows_read
    for line, reason in result.skipped:
        report.skip(line, reason)
    report.warnings.update(result.warnings)
    report.encodings_repaired.update(result.repaired)
    report.rows_repaired += result.rows_repaired
