"""The Allocator end to end: real `queuelabs allocator` processes on a fresh database, driven over
gRPC by a separate client process, each scenario against the echo ceiling of the same servers.

The echo ceiling is the standard health Check, sent by the same client to the same replicas at
the same concurrency, measured in the same run: what a call costs when the server does nothing.
Scenarios (LinkedIn, 48 slots a day, so its daily cap of 150 is checked on every assignment):

  P1  5,000 AssignNext on one (profile, platform), 100 in flight, 2 replicas
  P2  P1 on a key already 10,000 deep
  P3  20,000 AssignNext over 200 keys, 100 in flight, 2 replicas
  P4  100 BatchAssign calls of 100 contents each (one key), 100 in flight, 2 replicas
  P5  P1 with 1 and with 3 replicas
  R   100,000 AssignNext over 200 keys: each replica's resident memory after 10,000 and after
      100,000 (--rss-assignments to change the total)

Each content carries texts the size of a real one (a CDN address, a title, a caption: the shapes
of bench.history), so that the database stores what production stores.

Printed per scenario: assignments/s, p50/p99 latency, the ratio to the echo ceiling, each
replica's peak RSS. After the run it checks the database: no slot holds two contents, and every
acknowledged content holds the slot it was told.

Run: `uv run python -m bench.allocator_e2e` (BENCH_DATABASE_URL, DATABASE_URL, or an embedded
PostgreSQL; a database of its own, dropped at the end). `--scale 0.1` runs every scenario at a
tenth of its size; `--history 2000000` runs them on a database holding that many finished
contents (bench.history; `bench.history_cost` compares with an empty one); `--pgbouncer 4` has
the replicas reach the database through a PgBouncer in transaction mode with 4 server
connections. Loopback only; it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as wall_time
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from allocator.domain import ContentSpec, Profile, SlotSpec
from allocator.service import AllocatorService
from allocator.storage import AllocatorStore
from bench.database import bench_database, slots_held
from bench.history import CAPTION, MEDIA_URL, TITLE, add_key_history, uuid7
from bench.pgbouncer import find_pgbouncer, running_pgbouncer, through
from bench.processes import (
    ServerWork,
    cpu_seconds,
    free_port,
    memory_kib,
    part,
    server_work,
    wait_for_port,
)
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1 import allocator_pb2_grpc as pb_grpc
from queuelabs.clock import SystemClock
from queuelabs.database import open_pool
from queuelabs.fields import PLATFORM_TO_PB
from queuelabs.platforms import MediaType, Platform

IN_FLIGHT = 100
SLOTS = [SlotSpec(wall_time(h, m), frozenset()) for h in range(24) for m in (0, 30)]
PLATFORM = Platform.LINKEDIN
CLIENT_LIMIT = 600  # seconds one client run may take


# The client process: `python -m bench.allocator_e2e client SPEC OUT`


async def timed_calls(
    spec: dict[str, Any],
    one: Callable[[int, dict[str, Any]], Awaitable[None]],
    latencies: list[float],
    errors: dict[str, int],
) -> tuple[float, float]:
    """Runs `one` over the spec's calls, `in_flight` at once, adding each call's latency (or its
    error code) to the lists; (seconds, client CPU seconds) the whole took."""
    calls: Iterator[tuple[int, dict[str, Any]]] = iter(enumerate(spec["calls"]))

    async def worker() -> None:
        for i, call in calls:
            started = time.perf_counter()
            try:
                await one(i, call)
            except grpc.aio.AioRpcError as failed:
                errors[failed.code().name] = errors.get(failed.code().name, 0) + 1
                continue
            latencies.append(time.perf_counter() - started)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(spec["in_flight"]))), CLIENT_LIMIT
    )
    return time.perf_counter() - started, time.process_time() - cpu


async def client(spec: dict[str, Any]) -> dict[str, Any]:
    """Sends the calls of `spec`, `in_flight` at once, round robin over the replicas; returns the
    timings and every acknowledged assignment."""
    channels = [grpc.aio.insecure_channel(address) for address in spec["addresses"]]
    health = [health_pb2_grpc.HealthStub(c) for c in channels]
    stubs = [pb_grpc.AllocatorStub(c) for c in channels]
    for stub in health:  # connected before the clock starts
        await stub.Check(health_pb2.HealthCheckRequest(), timeout=30)
    latencies: list[float] = []
    acknowledged: list[tuple[str, str, str]] = []
    errors: dict[str, int] = {}
    batch = spec["kind"] == "batch"

    async def one(i: int, call: dict[str, Any]) -> None:
        replica = i % len(channels)
        if spec["kind"] == "echo":
            await health[replica].Check(health_pb2.HealthCheckRequest(), timeout=60)
            return
        contents = [
            pb.Content(
                content_id=str(uuid7() if spec.get("uuid7") else uuid.uuid4()),
                media_type=pb.MEDIA_TYPE_VIDEO,
                media_url=MEDIA_URL.format(uuid.uuid4()),
                title=TITLE.format(i),
                description=CAPTION,
            )
            for _ in range(call["contents"])
        ]
        platform = PLATFORM_TO_PB[PLATFORM]
        if batch:
            reply = await stubs[replica].BatchAssign(
                pb.BatchAssignRequest(
                    profile_id=call["profile_id"], platform=platform, contents=contents
                ),
                timeout=120,
            )
            answers = list(reply.assignments)
        else:
            answers = [
                await stubs[replica].AssignNext(
                    pb.AssignNextRequest(
                        profile_id=call["profile_id"], platform=platform, content=contents[0]
                    ),
                    timeout=120,
                )
            ]
        for a in answers:
            acknowledged.append((a.content_id, a.scheduled_at.ToJsonString(), a.slot_id))

    seconds, cpu = await timed_calls(spec, one, latencies, errors)
    for channel in channels:
        await channel.close()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "latencies": latencies,
        "acknowledged": acknowledged,
        "errors": errors,
    }


# The driver


@dataclass
class Run:
    calls: int
    assignments: int
    seconds: float
    client_cpu: float
    p50: float
    p99: float
    errors: dict[str, int]
    acknowledged: list[tuple[str, str, str]]
    server: ServerWork = field(default_factory=ServerWork)  # the database's, set by the scenario
    replica_cpu: float = 0.0  # seconds, the replicas serving it, set by the scenario

    @property
    def rate(self) -> float:
        return (self.assignments or self.calls) / self.seconds


def drive(
    addresses: list[str], kind: str, calls: list[dict[str, Any]], uuid7_ids: bool = False
) -> Run:
    """Runs one client process over `calls` (content ids version 7 UUIDs if `uuid7_ids`, else
    random ones) and reads back what it measured."""
    with tempfile.TemporaryDirectory(prefix="queuelabs-bench-client-") as scratch:
        spec_file, out = Path(scratch) / "spec.json", Path(scratch) / "out.json"
        spec = {
            "addresses": addresses,
            "kind": kind,
            "calls": calls,
            "in_flight": IN_FLIGHT,
            "uuid7": uuid7_ids,
        }
        spec_file.write_text(json.dumps(spec))
        subprocess.run(
            [sys.executable, "-m", "bench.allocator_e2e", "client", str(spec_file), str(out)],
            check=True,
            timeout=CLIENT_LIMIT + 60,
        )
        result = json.loads(out.read_text())
    latencies = sorted(result["latencies"]) or [0.0]
    return Run(
        calls=len(calls),
        assignments=len(result["acknowledged"]),
        seconds=result["seconds"],
        client_cpu=result["cpu"],
        p50=statistics.median(latencies),
        p99=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        errors=result["errors"],
        acknowledged=[tuple(a) for a in result["acknowledged"]],
    )


def echo_calls(count: int) -> list[dict[str, Any]]:
    return [{}] * count


def assign_calls(keys: list[uuid.UUID], count: int) -> list[dict[str, Any]]:
    return [{"profile_id": str(keys[i % len(keys)]), "contents": 1} for i in range(count)]


async def seed(database_url: str, counts: dict[str, int], depth: int) -> dict[str, list[uuid.UUID]]:
    """Profiles with a LinkedIn schedule: `counts[name]` keys per scenario; the P2 key is
    filled `depth` deep first."""
    pool = await open_pool(database_url, size=2, wait_seconds=60)
    service = AllocatorService(AllocatorStore(pool), SystemClock())
    keys: dict[str, list[uuid.UUID]] = {}
    try:
        for name, count in counts.items():
            keys[name] = []
            for i in range(count):
                profile = Profile(uuid.uuid4(), f"{name}-{i}", f"{name}-{i}", "Asia/Jakarta")
                await service.upsert_profile(profile)
                await service.set_schedule(profile.profile_id, PLATFORM, SLOTS)
                keys[name].append(profile.profile_id)
        [deep] = keys["P2"]
        for _ in range(depth // 100):
            contents = [
                ContentSpec(uuid.uuid4(), MediaType.VIDEO, "https://cdn.example.com/a.mp4", "t")
                for _ in range(100)
            ]
            await service.batch_assign(deep, PLATFORM, contents, None)
    finally:
        await pool.close()
    return keys


def check_database(database_url: str, acknowledged: list[tuple[str, str, str]]) -> tuple[int, int]:
    """(slots holding two or more contents, acknowledged contents not where they were told)."""
    stacked, held = slots_held(database_url, (a[0] for a in acknowledged))
    moved = 0
    for content_id, at, slot in acknowledged:
        told = (datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(UTC), slot)
        if held.get(content_id) != told:
            moved += 1
    return stacked, moved


def group_totals(ports: list[int]) -> complex:
    """Requests served in groups (real part) and groups (imaginary part), from the replicas'
    /metrics, summed."""
    total = 0j
    for port in ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for row in text.splitlines():
            if row.startswith("queuelabs_assignment_group_requests_sum "):
                total += float(row.split()[1])
            elif row.startswith("queuelabs_assignment_group_requests_count "):
                total += float(row.split()[1]) * 1j
    return total


def line(label: str, run: Run, echo: Run, replicas: list[int]) -> str:
    peaks = ", ".join(f"{memory_kib(pid)[1] / 1024:.0f}" for pid in replicas)
    failed = f"  errors {run.errors}" if run.errors else ""
    return (
        f"{label:<40} {run.rate:8.0f}/s  p50 {run.p50 * 1e3:7.1f} ms  p99 {run.p99 * 1e3:7.1f} ms"
        f"  {run.rate / echo.rate:5.2f}x echo  peak RSS MiB [{peaks}]{failed}"
    )


KEY_HISTORY = 500  # finished contents of each benchmark key, when the run has a history


def measure(
    database_url: str,
    chosen: set[str],
    scale: float = 1.0,
    rss_assignments: int = 100_000,
    key_history: int = 0,
    replica_url: str = "",
    uuid7_ids: bool = False,
) -> dict[str, tuple[Run, Run]]:
    """Runs the `chosen` scenarios on `database_url` (migrated, holding no benchmark keys),
    printing each as it ends; returns each scenario's run and its echo ceiling, by label.
    `key_history`: finished contents (bench.history) given to each benchmark key first;
    `replica_url`: the way the replicas reach that database (through PgBouncer), if not direct;
    `uuid7_ids`: the client's content ids are version 7 UUIDs (time-ordered), not random."""
    n = lambda count: max(1, int(count * scale))  # noqa: E731
    results: dict[str, tuple[Run, Run]] = {}
    with ExitStack() as parts:
        keys = asyncio.run(
            seed(
                database_url,
                {"P1": 1, "P2": 1, "P3": 200, "P4": 1, "P5": 2, "R": 200},
                n(10_000) if "P2" in chosen else 0,
            )
        )
        if key_history:
            add_key_history(database_url, key_history)
        replicas = []
        metrics_ports: list[int] = []
        for _ in range(3):
            port, metrics_port = free_port(), free_port()
            process = parts.enter_context(
                part(
                    "allocator",
                    DATABASE_URL=replica_url or database_url,
                    ALLOCATOR_LISTEN=f"127.0.0.1:{port}",
                    METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
                    ALLOCATOR_DB_POOL_SIZE="10",
                )
            )
            wait_for_port(port, process)
            replicas.append((f"127.0.0.1:{port}", process.pid))
            metrics_ports.append(metrics_port)
        acknowledged: list[tuple[str, str, str]] = []

        def scenario(label: str, width: int, kind: str, calls: list[dict[str, Any]]) -> Run | None:
            if label[:2] not in chosen:
                return None
            addresses = [address for address, _ in replicas[:width]]
            pids = [pid for _, pid in replicas[:width]]
            echo_cpu = -sum(map(cpu_seconds, pids))
            echo = drive(addresses, "echo", echo_calls(len(calls) if kind != "batch" else 5000))
            echo_cpu += sum(map(cpu_seconds, pids))
            run_cpu = -sum(map(cpu_seconds, pids))
            groups = -group_totals(metrics_ports[:width])
            with server_work(database_url) as work:
                run = drive(addresses, kind, calls, uuid7_ids)
                run_cpu += sum(map(cpu_seconds, pids))
            groups += group_totals(metrics_ports[:width])
            run.server = work
            run.replica_cpu = run_cpu
            acknowledged.extend(run.acknowledged)
            results[label] = (run, echo)
            print(line(label, run, echo, pids), flush=True)
            print(
                f"{'':<40} server CPU per call: echo {echo_cpu / echo.calls * 1e6:.0f} us,"
                f" this {run_cpu / run.calls * 1e6:.0f} us; client CPU per call: echo"
                f" {echo.client_cpu / echo.calls * 1e6:.0f} us, this"
                f" {run.client_cpu / run.calls * 1e6:.0f} us; requests per group"
                f" {groups.real / max(1, groups.imag):.1f}; per assignment:"
                f" {work.per(run.assignments)}",
                flush=True,
            )
            return run

        print(f"echo ceiling and scenarios, {IN_FLIGHT} in flight, one client process")
        p1 = scenario(
            "P1 AssignNext, one key, 2 replicas", 2, "assign", assign_calls(keys["P1"], n(5000))
        )
        p2 = scenario(
            f"P2 P1 at depth {n(10_000):,}", 2, "assign", assign_calls(keys["P2"], n(5000))
        )
        if p1 and p2:
            print(f"{'':<40} P2/P1 = {p2.rate / p1.rate:.2f}")
        scenario(
            "P3 AssignNext, 200 keys, 2 replicas", 2, "assign", assign_calls(keys["P3"], n(20_000))
        )
        batches = [{"profile_id": str(keys["P4"][0]), "contents": 100} for _ in range(n(100))]
        scenario("P4 BatchAssign x100 contents, 2 replicas", 2, "batch", batches)
        scenario("P5 P1 with 1 replica", 1, "assign", assign_calls(keys["P5"][:1], n(5000)))
        scenario("P5 P1 with 3 replicas", 3, "assign", assign_calls(keys["P5"][1:], n(5000)))

        total = rss_assignments if "R" in chosen else 0
        two = [address for address, _ in replicas[:2]]
        if total:
            first = drive(two, "assign", assign_calls(keys["R"], total // 10), uuid7_ids)
            after_first = [memory_kib(pid)[0] for _, pid in replicas[:2]]
            rest = drive(two, "assign", assign_calls(keys["R"], total - total // 10), uuid7_ids)
            after_all = [memory_kib(pid)[0] for _, pid in replicas[:2]]
            acknowledged.extend(first.acknowledged + rest.acknowledged)
            growth = ", ".join(
                f"{a / 1024:.0f} -> {b / 1024:.0f} MiB ({b / a:.2f})"
                for a, b in zip(after_first, after_all, strict=True)
            )
            print(f"R  RSS after {total // 10:,} and {total:,} assignments: {growth}")

        stacked, moved = check_database(database_url, acknowledged)
        print(
            f"database: {len(acknowledged):,} acknowledged; slots holding two contents: {stacked};"
            f" acknowledged contents not where they were told: {moved}"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="every scenario's size times this")
    parser.add_argument("--rss-assignments", type=int, default=100_000)
    parser.add_argument(
        "--only", nargs="+", choices=["P1", "P2", "P3", "P4", "P5", "R"], help="these scenarios"
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help=f"seed this many finished contents first (and {KEY_HISTORY} on each benchmark key)",
    )
    parser.add_argument(
        "--pgbouncer",
        type=int,
        metavar="SERVER_CONNECTIONS",
        help="the replicas go through a PgBouncer in transaction mode with this pool size",
    )
    parser.add_argument(
        "--uuid7", action="store_true", help="content ids are version 7 UUIDs (time-ordered)"
    )
    args = parser.parse_args()
    chosen = set(args.only or ["P1", "P2", "P3", "P4", "P5", "R"])
    with bench_database(args.history) as database_url, ExitStack() as stack:
        replica_url = ""
        if args.pgbouncer:
            binary = find_pgbouncer()
            if binary is None:
                sys.exit("pgbouncer is not installed (apt-get install pgbouncer)")
            bouncer = stack.enter_context(running_pgbouncer(database_url, binary, args.pgbouncer))
            replica_url = through(bouncer, database_url)
            print(
                f"replicas through PgBouncer: transaction mode, {args.pgbouncer} server connections"
            )
        measure(
            database_url,
            chosen,
            args.scale,
            args.rss_assignments,
            KEY_HISTORY if args.history else 0,
            replica_url,
            args.uuid7,
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "client":
        measured = asyncio.run(client(json.loads(Path(sys.argv[2]).read_text())))
        Path(sys.argv[3]).write_text(json.dumps(measured))
    else:
        main()
