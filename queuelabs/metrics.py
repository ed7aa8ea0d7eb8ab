"""Prometheus metrics for both services, served on /metrics (METRICS_LISTEN).

Names start with queuelabs_, but for the per-RPC ones, which keep the names every gRPC dashboard
knows (grpc_server_*); every latency is in seconds.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool

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
INDEX_REFUSALS = Counter(
    "queuelabs_assignment_index_refusals",
    "Slots the unique index refused although they were chosen under the locks (0 unless a lock "
    "is missing: the group or the move is then placed again).",
)
CONTENT_UPDATES = Counter(
    "queuelabs_content_updates_total",
    "UpdateContent calls, by outcome: updated, unchanged (a repeat, or nothing to change), "
    "refused.",
    ["outcome"],
)
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
ACCOUNTS_TO_RECONNECT = Gauge(
    "queuelabs_accounts_to_reconnect",
    "Social accounts (profile, platform) that must be reconnected in Upload-Post: nothing is"
    " sent to them until then.",
)
DISPATCH_LAG_SECONDS = Histogram(
    "queuelabs_dispatch_lag_seconds",
    "How long after its slot a content was first claimed.",
    ["platform"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)

UPLOAD_POST_WEBHOOKS = Counter(
    "queuelabs_upload_post_webhooks_total",
    "Deliveries of Upload-Post's webhooks, by event (`other`: one we do not know, or unread) and"
    " what came of each (uploader/notices/).",
    ["event", "outcome"],
)


# Every RPC, in the conventional names (go-grpc-prometheus, py-grpc-prometheus).
GRPC_STARTED = Counter(
    "grpc_server_started_total",
    "RPCs started on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
)
GRPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
GRPC_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from an RPC's start to its answer on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=_LATENCY,
)


class _Pools(Collector):
    """The database pools' connections in use and callers waiting for one, read at scrape."""

    def __init__(self) -> None:
        self._pools: weakref.WeakValueDictionary[str, AsyncConnectionPool] = (
            weakref.WeakValueDictionary()
        )

    def watch(self, service: str, pool: AsyncConnectionPool) -> None:
        self._pools[service] = pool

    def collect(self) -> Iterator[Metric]:
        in_use = GaugeMetricFamily(
            "queuelabs_db_pool_connections_in_use",
            "Database connections of the pool lent out now.",
            labels=["service"],
        )
        waiting = GaugeMetricFamily(
            "queuelabs_db_pool_requests_waiting",
            "Callers waiting for a database connection of the pool now.",
            labels=["service"],
        )
        for service, pool in list(self._pools.items()):
            stats = pool.get_stats()
            in_use.add_metric([service], stats.get("pool_size", 0) - stats.get("pool_available", 0))
            waiting.add_metric([service], stats.get("requests_waiting", 0))
        yield in_use
        yield waiting


_POOLS = _Pools()
REGISTRY.register(_POOLS)


def watch_pool(service: str, pool: AsyncConnectionPool) -> None:
    """Reports the pool's connections in use and callers waiting, labelled with `service`."""
    _POOLS.watch(service, pool)


def serve_metrics(listen: str | None) -> None:
    """Serves /metrics on HOST:PORT in a thread of its own; None leaves it off."""
    if not listen:
        return
    host, _, port = listen.rpartition(":")
    start_http_server(int(port), addr=host)
    log.info("metrics on http://%s/metrics", listen)
