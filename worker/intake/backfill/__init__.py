"""Backfill: push a whole archive of historical scans through the pipeline, resumably.

SOURCE is a local directory, ``s3://bucket/prefix``, or an S3 Inventory ``manifest.json`` (local path or
``s3://``; CSV inventory files, gzip or not). Files are grouped into submissions exactly as live intake
groups them: the first path component under the prefix is the submission; a file directly under the prefix
is a submission on its own.

Two ways to run it:
- locally, with N worker processes: each process builds the matcher once (initializer), runs Tesseract
  single-threaded, and processes whole submissions so one submission's files never race each other;
- ``--enqueue``: one versioned BackfillMessage per object, sent with SendMessageBatch (10 per call), for a
  worker fleet to consume.

Resume: the results database is the state. An object already processed (same key and etag for S3, same
sha256 for local files) is skipped; ``--reprocess`` only skips objects already processed by the current
pipeline version. Ctrl-C stops submitting work, lets in-flight submissions finish and prints the report;
a second Ctrl-C abandons in-flight work (it is simply redone on the next run).

Modules: listing (SOURCE to objects and submissions), plan (resume), enqueue (--enqueue), local (processing
in this process or a pool), report (the end report), command (`intake backfill`, the entry point).
"""

from worker.intake.backfill.enqueue import SQS_BATCH, backfill_messages, enqueue, enqueue_objects
from worker.intake.backfill.listing import Source, SourceObject, group_submissions, list_objects, parse_source
from worker.intake.backfill.local import init_worker, process_submission, run_local
from worker.intake.backfill.plan import plan
from worker.intake.backfill.report import BackfillReport, ObjectOutcome, database_counts

__all__ = [
    "SQS_BATCH",
    "BackfillReport",
    "ObjectOutcome",
    "Source",
    "SourceObject",
    "backfill_messages",
    "database_counts",
    "enqueue",
    "enqueue_objects",
    "group_submissions",
    "init_worker",
    "list_objects",
    "parse_source",
    "plan",
    "process_submission",
    "run_local",
]
