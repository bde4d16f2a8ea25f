"""Listing SOURCE (a local directory, s3://bucket/prefix, or an S3 Inventory manifest) as objects grouped
into submissions exactly as live intake groups them."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote_plus, urlparse

import click

from worker import aws
from worker.intake.events import ignore_reason, submission_for_key


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One file to process. Slots keep a million of them in ~250 MB rather than ~600 MB."""

    bucket: str  # "" for a local file
    key: str  # S3 key, or the path relative to the SOURCE directory (like inbox keys)
    submission_id: str
    size: int | None = None
    etag: str | None = None  # S3 ETag without quotes
    version_id: str | None = None

    @property
    def is_local(self) -> bool:
        return not self.bucket

    @property
    def display(self) -> str:
        return self.key if self.is_local else f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Source:
    kind: str  # "local" | "s3" | "manifest"
    bucket: str = ""
    prefix: str = ""
    path: Path | None = None  # local directory, or local manifest file
    manifest_key: str | None = None  # manifest in S3


def parse_source(source: str, prefix: str = "") -> Source:
    """Classify SOURCE. ``prefix`` restricts (and anchors the grouping of) an inventory manifest's keys."""
    if source.startswith("s3://"):
        url = urlparse(source)
        key = url.path.lstrip("/")
        if key.endswith("manifest.json"):
            return Source("manifest", bucket=url.netloc, prefix=_dir_prefix(prefix), manifest_key=key)
        return Source("s3", bucket=url.netloc, prefix=_dir_prefix(key))
    path = Path(source)
    if path.is_file() and path.name.endswith("manifest.json"):
        return Source("manifest", prefix=_dir_prefix(prefix), path=path)
    if path.is_dir():
        return Source("local", path=path.resolve())
    raise click.BadParameter(f"{source}: not a directory, an s3://bucket/prefix or a manifest.json")


def _dir_prefix(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _group(key: str, prefix: str) -> str | None:
    """The submission a key belongs to, or None when live intake would not read it either."""
    rel = key[len(prefix) :]
    if not rel or ignore_reason(rel):
        return None
    # interned: a million objects share a quarter of a million submission ids
    return sys.intern(submission_for_key(key, prefix)[0])


def list_objects(source: Source, *, s3: Any = None) -> Iterator[SourceObject]:
    """Every scan under SOURCE, in a stable order (sorted for local directories, key order for S3)."""
    if source.kind == "local":
        assert source.path is not None
        yield from _list_local(source.path)
    elif source.kind == "s3":
        yield from _list_s3(s3 or client("s3"), source.bucket, source.prefix)
    else:
        yield from _list_manifest(source, s3)


def _list_local(root: Path) -> Iterator[SourceObject]:
    # os.walk with sorted names: rglob would stat every file twice and order differs between filesystems
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if (submission := _group(rel, "")) is not None:
                yield SourceObject("", rel, submission, size=path.stat().st_size)


def _list_s3(s3: Any, bucket: str, prefix: str, *, page_size: int = 1000) -> Iterator[SourceObject]:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if (submission := _group(key, prefix)) is not None:
                yield SourceObject(bucket, key, submission, obj.get("Size"), _etag(obj.get("ETag")))


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _list_manifest(source: Source, s3: Any) -> Iterator[SourceObject]:
    """S3 Inventory: manifest.json names CSV files (gzip) whose columns are given by fileSchema."""
    if source.path is not None:
        manifest = json.loads(source.path.read_text())
    else:
        s3 = s3 or client("s3")
        manifest = json.loads(s3.get_object(Bucket=source.bucket, Key=source.manifest_key)["Body"].read())
    if manifest.get("fileFormat", "CSV").upper() != "CSV":
        raise click.BadParameter(f"inventory format {manifest.get('fileFormat')!r}: only CSV inventories are read")
    columns = [c.strip() for c in manifest["fileSchema"].split(",")]
    dest_bucket = manifest.get("destinationBucket", "").split(":::")[-1] or source.bucket
    for entry in manifest.get("files", []):
        raw = _read_inventory_file(entry["key"], source, dest_bucket, s3)
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        for row in csv.reader(io.StringIO(raw.decode("utf-8"))):
            rec = dict(zip(columns, row, strict=False))
            if rec.get("IsDeleteMarker", "false").lower() == "true" or rec.get("IsLatest", "true").lower() == "false":
                continue
            key = unquote_plus(rec["Key"])  # inventory CSVs URL-encode keys
            if not key.startswith(source.prefix) or (submission := _group(key, source.prefix)) is None:
                continue
            size = rec.get("Size")
            yield SourceObject(
                rec.get("Bucket") or manifest.get("sourceBucket", ""),
                key,
                submission,
                int(size) if size else None,
                _etag(rec.get("ETag")) or None,
                rec.get("VersionId") or None,
            )


def _read_inventory_file(key: str, source: Source, dest_bucket: str, s3: Any) -> bytes:
    if source.path is not None:
        # a manifest downloaded with its data files (`aws s3 sync` of the inventory configuration keeps
        # <config>/<date>/manifest.json next to <config>/data/): look there before asking S3
        here, name = source.path.parent, PurePosixPath(key).name
        for candidate in (here / key, here / name, here / "data" / name, here.parent / "data" / name):
            if candidate.is_file():
                return candidate.read_bytes()
    s3 = s3 or client("s3")
    return bytes(s3.get_object(Bucket=dest_bucket, Key=key)["Body"].read())


def client(service: str, url: str | None = None) -> Any:
    # AWS_ENDPOINT_URL (moto, MinIO, LocalStack) is honoured by boto3 itself
    return aws.client(service, url=url)


def group_submissions(objects: Iterable[SourceObject]) -> dict[str, list[SourceObject]]:
    groups: dict[str, list[SourceObject]] = defaultdict(list)
    for obj in objects:
        groups[obj.submission_id].append(obj)
    return dict(groups)
