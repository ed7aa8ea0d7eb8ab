"""Prometheus metrics for both services, served on /metrics (METRICS_LISTEN).

Names start with queuelabs_; every latency is in seconds.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# Allocator
ASSIGNMENT_SECONDS = Histogram(
    "queuelabs_assignment_seconds",
    "Time to place contents, lock waits included.",
    ["rpc"],
    buckets=_LATENCY,
)
LOCK_WAIT_SECONDS = Histogram(
    "queuelabs_assignment_lock_wait_seconds",
    "Time an assignment waited for its (profile, platform): stripe plus advisory lock.",
    buckets=_LATENCY,
)
ASSIGNMENTS = Counter("queuelabs_assignments_total", "Contents placed, by outcome.", ["outcome"])
GROUP_REQUESTS = Histogram(
    "queuelabs_assignment_group_requests",
    "AssignNext and BatchAssign requests served together in one transaction.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)

# Uploader
UPLOADS = Counter(
    "queuelabs_uploads_total",
    "Answers from Upload-Post, by platform and outcome.",
    ["platform", "outcome"],
)
RETRIES = Counter("queuelabs_upload_retries_total", "Retries scheduled, by platform.", ["platform"])
DUE_BACKLOG = Gauge(
    "queuelabs_due_backlog", "Contents due now and not yet claimed, by platform.", ["platform"]
)
DISPATCH_LAG_SECONDS = Histogram(
    "queuelabs_dispatch_lag_seconds",
    "How long after its slot a content was first claimed.",
    ["platform"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)


def serve_metrics(listen: str | None) -> None:
    """Serves /metrics on HOST:PORT in a thread of its own; None leaves it off."""
    if not listen:
        return
    host, _, port = listen.rpartition(":")
    start_http_server(int(port), addr=host)
    log.info("metrics on http://%s/metrics", listen)
