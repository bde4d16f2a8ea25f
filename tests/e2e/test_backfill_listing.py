"""`intake backfill` SOURCE listing: a local folder, an S3 prefix page by page, an S3 Inventory manifest (in a
bucket or on disk), grouped into submissions as live intake groups them. Real services: the moto server for S3.
(The runs themselves, resume, --enqueue and the report: test_backfill.py.)"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import boto3
import pytest

from worker.intake import backfill as bf
from worker.intake.backfill import listing
from worker.intake.events import submission_for_key

# ------------------------------------------------------------------------------------------- listing


def _touch(root: Path, rel: str, data: bytes = b"x") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_local_listing_groups_files_into_submissions_like_live_intake(tmp_path: Path) -> None:
    for rel in (
        "hs-002/front.jpg",
        "hs-001/cards/back.png",
        "hs-001/front.jpg",
        "loose scan.pdf",
        ".DS_Store",
        "hs-003/.hidden.jpg",
        "notes.txt",
    ):
        _touch(tmp_path, rel)
    objects = list(bf.list_objects(bf.parse_source(str(tmp_path))))
    keys = [o.key for o in objects]
    # hidden files are not scans; an unknown type is kept, so it shows up as unsupported_format
    assert keys == ["loose scan.pdf", "notes.txt", "hs-001/front.jpg", "hs-001/cards/back.png", "hs-002/front.jpg"]
    assert all(o.bucket == "" and o.size == 1 for o in objects)
    for o in objects:
        assert o.submission_id == submission_for_key(o.key)[0]
    groups = bf.group_submissions(objects)
    assert sorted(groups) == ["hs-001", "hs-002", "loose scan", "notes"]
    assert [o.key for o in groups["hs-001"]] == ["hs-001/front.jpg", "hs-001/cards/back.png"]


def test_s3_listing_pages_through_every_object_under_the_prefix(moto_server: str, unique_name) -> None:
    s3 = boto3.client("s3")
    bucket = unique_name("bf")
    s3.create_bucket(Bucket=bucket)
    keys = [f"archive/2019/hs-{i % 4}/p{i}.jpg" for i in range(11)] + ["archive/2019/", "other/hs-9/a.jpg"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    source = bf.parse_source(f"s3://{bucket}/archive/2019")
    assert (source.kind, source.prefix) == ("s3", "archive/2019/")
    objects = list(listing._list_s3(s3, bucket, source.prefix, page_size=3))
    assert sorted(o.key for o in objects) == sorted(k for k in keys if k.startswith("archive/2019/hs-"))
    head = s3.head_object(Bucket=bucket, Key=objects[0].key)
    assert objects[0].etag == head["ETag"].strip('"')
    assert {o.submission_id for o in objects} == {"hs-0", "hs-1", "hs-2", "hs-3"}
    assert all(o.bucket == bucket for o in objects)


def _inventory_csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL).writerows(rows)
    return gzip.compress(buf.getvalue().encode())


def test_inventory_manifest_lists_latest_versions_and_decodes_keys(moto_server: str, unique_name) -> None:
    s3 = boto3.client("s3")
    source_bucket, inventory_bucket = unique_name("src"), unique_name("inv")
    s3.create_bucket(Bucket=inventory_bucket)
    schema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag"
    part1 = [
        [source_bucket, "scans/hs-1/m%E1%BA%B7t+tr%C6%B0%E1%BB%9Bc.jpg", "v2", "true", "false", "10", "", "e1"],
        [source_bucket, "scans/hs-1/back.jpg", "v1", "false", "false", "10", "", "old"],  # superseded
        [source_bucket, "scans/hs-1/back.jpg", "v3", "true", "false", "12", "", "e3"],
    ]
    part2 = [
        [source_bucket, "scans/hs-2/gone.jpg", "v4", "true", "true", "", "", ""],  # deleted
        [source_bucket, "scans/single.png", "v5", "true", "false", "7", "", "e5"],
        [source_bucket, "elsewhere/hs-3/a.jpg", "v6", "true", "false", "7", "", "e6"],
    ]
    for name, rows in (("a.csv.gz", part1), ("b.csv.gz", part2)):
        s3.put_object(Bucket=inventory_bucket, Key=f"inv/data/{name}", Body=_inventory_csv(rows))
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{inventory_bucket}",
        "fileFormat": "CSV",
        "fileSchema": schema,
        "files": [{"key": "inv/data/a.csv.gz"}, {"key": "inv/data/b.csv.gz"}],
    }
    s3.put_object(Bucket=inventory_bucket, Key="inv/manifest.json", Body=json.dumps(manifest).encode())
    source = bf.parse_source(f"s3://{inventory_bucket}/inv/manifest.json", prefix="scans")
    objects = list(bf.list_objects(source, s3=s3))
    assert [(o.key, o.version_id, o.etag, o.submission_id) for o in objects] == [
        ("scans/hs-1/mặt trước.jpg", "v2", "e1", "hs-1"),
        ("scans/hs-1/back.jpg", "v3", "e3", "hs-1"),
        ("scans/single.png", "v5", "e5", "single"),
    ]
    assert {o.bucket for o in objects} == {source_bucket}


def test_local_manifest_reads_its_data_files_from_next_to_it(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text('"b","hs-7/a.jpg","5"\n"b","hs-7/b.jpg","6"\n')
    manifest = {"fileFormat": "CSV", "fileSchema": "Bucket, Key, Size", "files": [{"key": "inv/data/x.csv"}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    objects = list(bf.list_objects(bf.parse_source(str(tmp_path / "manifest.json"))))
    assert [(o.bucket, o.key, o.size, o.submission_id) for o in objects] == [
        ("b", "hs-7/a.jpg", 5, "hs-7"),
        ("b", "hs-7/b.jpg", 6, "hs-7"),
    ]


def test_source_that_is_nothing_known_is_a_usage_error(tmp_path: Path) -> None:
    import click

    with pytest.raises(click.BadParameter):
        bf.parse_source(str(tmp_path / "missing"))
