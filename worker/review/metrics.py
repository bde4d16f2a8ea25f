"""The review app's /metrics: the human side of the pipeline, counted from the database at scrape time (so
every replica reports the same numbers): submissions by the band of their best proposal (`none`: no
candidate at all), the review queue by state, and the exceptions worklist by reason."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from worker.review import service, worklist


class _Backlog(Collector):
    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[GaugeMetricFamily]:
        bands = GaugeMetricFamily(
            "intake_review_submissions",
            "Read submissions by the band of their best proposal (none: no candidate in the registry)",
            labels=["band"],
        )
        for band, n in worklist.band_counts(self.session).items():
            bands.add_metric([band], n)
        yield bands
        counts = service.queue_counts(self.session)
        queue = GaugeMetricFamily(
            "intake_review_queue_items", "Review queue items by state (waiting, in_review)", labels=["state"]
        )
        for state in ("waiting", "in_review"):
            queue.add_metric([state], counts[state])
        yield queue
        yield GaugeMetricFamily(
            "intake_review_decided_today", "Decisions taken today (UTC) that still stand", value=counts["decided_today"]
        )
        exceptions = worklist.exception_counts(self.session)
        yield GaugeMetricFamily(
            "intake_exceptions_open", "Submissions on the exceptions worklist", value=exceptions["open"]
        )
        by_reason = GaugeMetricFamily(
            "intake_exceptions", "Open exceptions by reason (one submission may have several)", labels=["reason"]
        )
        for reason in worklist.EXCEPTION_REASONS:
            by_reason.add_metric([reason], exceptions[reason])
        yield by_reason


def metrics_response(session: Session) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Backlog(session))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
