"""Fires one burst of assignments at once from several OS processes, each over many connections.

Every process connects first, then all wait at one barrier, then all fire together, so the
requests really are in flight at the same moment (plan-en.md: 100-300 ms apart in production;
here well under that).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from typing import Any

import grpc
import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from tests.support.calls import stamp, video
from tests.support.naive import naive_assign
from tests.support.processes import service_process


@dataclass(frozen=True)
class Outcome:
    content_id: str
    scheduled_at: datetime | None  # None when the call failed
    error: str
    served_by: str
    seconds: float


@dataclass(frozen=True)
class BurstResult:
    outcomes: list[Outcome]
    wall_seconds: float

    @property
    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.scheduled_at is not None]


@dataclass(frozen=True)
class Watched:
    """An Allocator replica process whose /metrics the test reads."""

    address: str
    metrics: str  # HOST:PORT


@contextmanager
def watched_allocators(database_url: str, count: int, **env: str) -> Iterator[list[Watched]]:
    """`count` Allocator server processes on one database, each serving /metrics."""
    with ExitStack() as stack:
        replicas = []
        for _ in range(count):
            running = stack.enter_context(
                service_process(
                    "allocator",
                    "ALLOCATOR_LISTEN",
                    DATABASE_URL=database_url,
                    METRICS_LISTEN="127.0.0.1:0",  # a port of the system's choosing
                    **env,
                )
            )
            replicas.append(Watched(running.address, f"127.0.0.1:{running.metrics_port}"))
        yield replicas


def index_refusals(replicas: list[Watched]) -> int:
    """How many slots the unique index refused the replicas, summed from their /metrics: 0
    while their locks serialize every (profile, platform)."""
    total = 0.0
    for replica in replicas:
        page = httpx.get(f"http://{replica.metrics}/metrics", timeout=10).text
        for family in text_string_to_metric_families(page):
            if family.name == "queuelabs_assignment_index_refusals":
                total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


def fire(
    worker: Callable[..., list[Outcome]],
    processes: int,
    per_process: int,
    args: tuple[Any, ...],
) -> BurstResult:
    """Runs `worker(*args, count, barrier)` in `processes` fresh processes at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results: multiprocessing.Queue[list[Outcome] | BaseException] = context.Queue()
    children = [
        context.Process(target=_run, args=(worker, (*args, per_process, barrier), results))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=60)  # every process is connected and waiting
        started = time.perf_counter()
        outcomes: list[Outcome] = []
        for _ in children:
            got = results.get(timeout=240)
            if isinstance(got, BaseException):
                raise got
            outcomes += got
        wall = time.perf_counter() - started
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    return BurstResult(outcomes, wall)


def _run(
    worker: Callable[..., list[Outcome]],
    args: tuple[Any, ...],
    results: multiprocessing.Queue[list[Outcome] | BaseException],
) -> None:
    try:
        results.put(worker(*args))
    except BaseException as failed:
        results.put(RuntimeError(f"burst worker failed: {failed!r}"))
        raise


def own_connections(addresses: list[str], connections: int) -> list[grpc.aio.Channel]:
    """`connections` channels round robin over `addresses`, each its own TCP connection (a
    subchannel pool of its own), so a burst arrives over that many connections at once."""
    return [
        grpc.aio.insecure_channel(
            addresses[i % len(addresses)], options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for i in range(connections)
    ]


def grpc_worker(*args: Any) -> list[Outcome]:
    """`_grpc_burst` in a process of its own (a process target cannot be a coroutine)."""
    return asyncio.run(_grpc_burst(*args))


async def _grpc_burst(
    addresses: list[str],
    connections: int,
    profile_id: str,
    not_before: datetime,
    count: int,
    barrier: Barrier,
) -> list[Outcome]:
    channels = own_connections(addresses, connections)
    try:
        await asyncio.gather(*(c.channel_ready() for c in channels))
        stubs = [AllocatorStub(c) for c in channels]
        await asyncio.to_thread(barrier.wait, 60)

        async def one(i: int) -> Outcome:
            content = video()
            started = time.perf_counter()
            served_by = addresses[(i % connections) % len(addresses)]
            try:
                got = await stubs[i % connections].AssignNext(
                    pb.AssignNextRequest(
                        profile_id=profile_id,
                        platform=pb.PLATFORM_TIKTOK,
                        content=content,
                        not_before=stamp(not_before),
                    ),
                    timeout=120,
                )
                at: datetime | None = got.scheduled_at.ToDatetime(tzinfo=UTC)
                error = ""
            except grpc.aio.AioRpcError as failed:
                at, error = None, f"{failed.code().name}: {failed.details()}"
            return Outcome(content.content_id, at, error, served_by, time.perf_counter() - started)

        return list(await asyncio.gather(*(one(i) for i in range(count))))
    finally:
        await asyncio.gather(*(c.close() for c in channels))


def naive_worker(
    database_url: str,
    connections: int,
    profile_id: str,
    not_before: datetime,
    count: int,
    barrier: Barrier,
) -> list[Outcome]:
    conns = [psycopg.connect(database_url, autocommit=True) for _ in range(connections)]
    try:
        barrier.wait(60)

        def one(i: int) -> Outcome:
            started = time.perf_counter()
            try:
                at: datetime | None = naive_assign(conns[i % connections], profile_id, not_before)
                error = ""
            except psycopg.Error as failed:
                at, error = None, f"{type(failed).__name__}: {failed}"
            return Outcome(str(uuid.uuid4()), at, error, "naive", time.perf_counter() - started)

        # One thread per connection, each running its share of the requests in turn.
        with ThreadPoolExecutor(connections) as threads:
            shares = [range(c, count, connections) for c in range(connections)]
            results = threads.map(lambda share: [one(i) for i in share], shares)
            return [o for share in results for o in share]
    finally:
        for conn in conns:
            conn.close()
