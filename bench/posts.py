"""Every kind of post on the Allocator (issue 22): what a rich content, a change, a move and a
calendar cost, each against the echo ceiling of the same servers in the same run.

The way of bench.allocator_e2e: real `queuelabs allocator` processes (2 replicas) on a fresh
database, driven over gRPC by a separate client process, 100 calls in flight, round robin over
the replicas; the echo ceiling is the standard health Check sent by the same kind of client to
the same replicas at the same concurrency, measured right before each scenario. Every key is
Instagram, 48 slots a day (its daily cap of 50 never binds: a day holds 48 slots), Asia/Jakarta.

  A1  10,000 AssignNext over 200 keys, each a plain content (one video, a title, a caption):
      the baseline (bench.allocator_e2e's P3 shape, on Instagram)
  A2  A1 with rich contents: a 10-item carousel (photos with every third item a video), typed
      InstagramOptions (3 collaborators, 5 user tags, a location id) and a first comment;
      A2/A1 is the price of a rich content
  U   5,000 UpdateContent of A2's contents (title and first_comment changed, update_mask,
      expected_revision 1), each call a different content, over the 200 keys
  M   2,000 MoveContent over 100 keys, each half full for 7 days (every :00 slot taken, every
      :30 free): each call moves a different content to a different free slot of its key, both
      read from GetCalendar before the clock starts, so every move succeeds
  C7  2,000 GetCalendar of a 7-day window over 20 keys half full for 36 days (336 instants,
      168 of them taken)
  C35 the same with a 35-day window, the widest allowed (1,680 instants, 840 taken)

Printed per scenario: calls/s, p50/p99 latency, the ratio to its echo ceiling, the errors by
gRPC code (any error fails the run: exit 1), the replicas' CPU per call and PostgreSQL's work
per call. After the run it checks the database (no slot holds two contents; every acknowledged
assignment and move is where it was told; every update is at revision 2) and times the
statements of the slowest reads with EXPLAIN ANALYZE, then drops the database.

Run: `uv run python -m bench.posts` (BENCH_DATABASE_URL, DATABASE_URL, or an embedded
PostgreSQL; a database of its own, dropped at the end). `--scale 0.05` runs every scenario at
a twentieth of its calls (the keys stay as many). Loopback only; it stops by itself.
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
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Any

import grpc
import psycopg
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from allocator.domain import ContentSpec, Profile, SlotSpec
from allocator.service import AllocatorService
from allocator.storage import QUERIES, AllocatorStore, advisory_key
from bench.allocator_e2e import (
    CLIENT_LIMIT,
    IN_FLIGHT,
    SLOTS,
    Run,
    check_database,
    drive,
    echo_calls,
    line,
    timed_calls,
)
from bench.database import bench_database
from bench.history import CAPTION, MEDIA_URL, TITLE
from bench.processes import cpu_seconds, free_port, part, server_work, wait_for_port
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1 import allocator_pb2_grpc as pb_grpc
from queuelabs.clock import SystemClock
from queuelabs.counting import QUERIES as COUNTING
from queuelabs.counting import counting_params
from queuelabs.database import open_pool
from queuelabs.fields import PLATFORM_TO_PB
from queuelabs.lifecycle import Event
from queuelabs.platforms import MediaType, Platform
from queuelabs.posts import MediaItem
from queuelabs.sql import by_event

PLATFORM = Platform.INSTAGRAM
TIMEZONE = "Asia/Jakarta"
HOURLY = [SlotSpec(wall_time(h, 0), frozenset()) for h in range(24)]  # SLOTS' :00 half
PHOTO_URL = MEDIA_URL.replace(".mp4", ".jpg")
CAROUSEL = 10  # items of a rich content: Instagram's most
COLLABORATORS = ["queuelabs.studio", "infoketua", "daily_partner"]  # Instagram's most: 3
USER_TAGS = ["queuelabs", "infoketua", "kreator.harian", "studio_satu", "tim.konten"]
LOCATION_ID = "213385402"  # a Facebook place id
FIRST_COMMENT = "Link lengkap di bio, dan semua konten harian kami: https://queuelabs.example/{}"
MOVE_KEYS, CALENDAR_KEYS = 100, 20
MOVE_DAYS, CALENDAR_DAYS = 7, 36  # days half full from now (C35's window stays inside 36)
SAFE_AHEAD = timedelta(hours=3)  # moves touch nothing nearer than this to now


# The client process: `python -m bench.posts client SPEC OUT`


def _content(i: int, rich: bool) -> pb.Content:
    """The i-th content of a run: plain (one video, a title, a caption) or rich (a carousel with
    typed options and a first comment), each URL its own."""
    content = pb.Content(content_id=str(uuid.uuid4()), title=TITLE.format(i), description=CAPTION)
    if not rich:
        content.media_type = pb.MEDIA_TYPE_VIDEO
        content.media_url = MEDIA_URL.format(uuid.uuid4())
        return content
    content.media_type = pb.MEDIA_TYPE_PHOTO
    for k in range(CAROUSEL):
        video = k % 3 == 2
        content.media.append(
            pb.MediaItem(
                url=(MEDIA_URL if video else PHOTO_URL).format(uuid.uuid4()),
                type=pb.MEDIA_TYPE_VIDEO if video else pb.MEDIA_TYPE_PHOTO,
            )
        )
    content.first_comment = FIRST_COMMENT.format(i)
    content.instagram.collaborators.extend(COLLABORATORS)
    content.instagram.user_tags.extend(USER_TAGS)
    content.instagram.location_id = LOCATION_ID
    return content


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


async def client(spec: dict[str, Any]) -> dict[str, Any]:
    """Sends the calls of `spec` (kind assign, update, move or calendar), `in_flight` at once,
    round robin over the replicas; returns the timings, the errors by code and every
    acknowledged (content, instant, slot) of an assignment or a move."""
    channels = [grpc.aio.insecure_channel(address) for address in spec["addresses"]]
    health = [health_pb2_grpc.HealthStub(c) for c in channels]
    stubs = [pb_grpc.AllocatorStub(c) for c in channels]
    for stub in health:  # connected before the clock starts
        await stub.Check(health_pb2.HealthCheckRequest(), timeout=30)
    kind, platform = spec["kind"], PLATFORM_TO_PB[PLATFORM]
    latencies: list[float] = []
    acknowledged: list[tuple[str, str, str]] = []
    errors: dict[str, int] = {}
    slots_read = taken_read = 0

    async def one(i: int, call: dict[str, Any]) -> None:
        nonlocal slots_read, taken_read
        stub = stubs[i % len(stubs)]
        if kind == "assign":
            request = pb.AssignNextRequest(
                profile_id=call["profile_id"],
                platform=platform,
                content=_content(i, call["rich"]),
            )
            a = await stub.AssignNext(request, timeout=120)
            acknowledged.append((a.content_id, a.scheduled_at.ToJsonString(), a.slot_id))
        elif kind == "update":
            content = pb.Content(
                content_id=call["content_id"],
                title=f"{TITLE.format(i)} (diubah)",
                first_comment=f"{FIRST_COMMENT.format(i)} (diubah)",
            )
            await stub.UpdateContent(
                pb.UpdateContentRequest(
                    content=content,
                    update_mask=FieldMask(paths=["title", "first_comment"]),
                    expected_revision=1,
                ),
                timeout=120,
            )
        elif kind == "move":
            to = Timestamp()
            to.FromJsonString(call["to"])
            a = await stub.MoveContent(
                pb.MoveContentRequest(
                    content_id=call["content_id"], scheduled_at=to, reason="bench"
                ),
                timeout=120,
            )
            acknowledged.append((a.content_id, a.scheduled_at.ToJsonString(), a.slot_id))
        elif kind == "calendar":
            start = datetime.now(UTC)
            calendar = await stub.GetCalendar(
                pb.GetCalendarRequest(
                    profile_id=call["profile_id"],
                    platform=platform,
                    start_time=_timestamp(start),
                    end_time=_timestamp(start + timedelta(days=call["days"])),
                ),
                timeout=120,
            )
            slots_read += len(calendar.slots)
            taken_read += sum(1 for s in calendar.slots if not s.free)
        else:
            raise ValueError(f"no such kind of call: {kind}")

    seconds, cpu = await timed_calls(spec, one, latencies, errors)
    for channel in channels:
        await channel.close()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "latencies": latencies,
        "acknowledged": acknowledged,
        "errors": errors,
        "slots_read": slots_read,
        "taken_read": taken_read,
    }


# The driver


def drive_posts(addresses: list[str], kind: str, calls: list[dict[str, Any]]) -> Run:
    """Runs one client process of this module over `calls` and reads back what it measured
    (bench.allocator_e2e.drive, for the kinds of call this module sends)."""
    with tempfile.TemporaryDirectory(prefix="queuelabs-bench-client-") as scratch:
        spec_file, out = Path(scratch) / "spec.json", Path(scratch) / "out.json"
        spec = {"addresses": addresses, "kind": kind, "calls": calls, "in_flight": IN_FLIGHT}
        spec_file.write_text(json.dumps(spec))
        subprocess.run(
            [sys.executable, "-m", "bench.posts", "client", str(spec_file), str(out)],
            check=True,
            timeout=CLIENT_LIMIT + 60,
        )
        result = json.loads(out.read_text())
    latencies = sorted(result["latencies"]) or [0.0]
    run = Run(
        calls=len(calls),
        assignments=len(result["acknowledged"]),
        seconds=result["seconds"],
        client_cpu=result["cpu"],
        p50=statistics.median(latencies),
        p99=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        errors=result["errors"],
        acknowledged=[tuple(a) for a in result["acknowledged"]],
    )
    if kind not in ("assign", "move"):  # the rate counts calls answered
        run.assignments = len(result["latencies"])
    if result["slots_read"]:
        answers = max(1, run.assignments)
        print(
            f"{'':<40} a calendar held {result['slots_read'] / answers:.0f} instants,"
            f" {result['taken_read'] / answers:.0f} of them taken",
            flush=True,
        )
    return run


async def _key(service: AllocatorService, name: str, slots: list[SlotSpec]) -> uuid.UUID:
    profile = Profile(uuid.uuid4(), name, name, TIMEZONE)
    await service.upsert_profile(profile)
    await service.set_schedule(profile.profile_id, PLATFORM, slots)
    return profile.profile_id


async def _half_full(service: AllocatorService, name: str, days: int) -> uuid.UUID:
    """A key of 48 slots a day whose every :00 slot of the next `days` days holds a content and
    every :30 slot is free: filled under 24 slots a day, then given the 48."""
    key = await _key(service, name, HOURLY)
    for first in range(0, 24 * days, 100):
        contents = [
            ContentSpec(
                uuid.uuid4(),
                MediaType.VIDEO,
                url := MEDIA_URL.format(uuid.uuid4()),
                TITLE.format(n),
                CAPTION,
                media=(MediaItem(url, MediaType.VIDEO),),
            )
            for n in range(first, min(first + 100, 24 * days))
        ]
        await service.batch_assign(key, PLATFORM, contents, None)
    await service.set_schedule(key, PLATFORM, SLOTS)
    return key


async def seed(database_url: str) -> dict[str, list[uuid.UUID]]:
    """The keys: 200 empty ones for A1 and A2 each, the half-full ones of M and C."""
    pool = await open_pool(database_url, size=4, wait_seconds=60)
    service = AllocatorService(AllocatorStore(pool), SystemClock())
    keys: dict[str, list[uuid.UUID]] = {}
    try:
        for name in ("A1", "A2"):
            keys[name] = list(
                await asyncio.gather(*(_key(service, f"{name}-{i}", SLOTS) for i in range(200)))
            )
        for name, count, days in (("M", MOVE_KEYS, MOVE_DAYS), ("C", CALENDAR_KEYS, CALENDAR_DAYS)):
            keys[name] = []
            for first in range(0, count, 4):
                keys[name] += await asyncio.gather(
                    *(
                        _half_full(service, f"{name}-{i}", days)
                        for i in range(first, min(first + 4, count))
                    )
                )
    finally:
        await pool.close()
    return keys


def move_calls(address: str, keys: list[uuid.UUID], count: int) -> list[dict[str, Any]]:
    """`count` moves over `keys`, round robin: each a different content of its key to a
    different free slot of it, both at least SAFE_AHEAD from now, read with GetCalendar."""
    per_key: list[list[dict[str, Any]]] = []
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.AllocatorStub(channel)
        wanted = -(-count // len(keys))
        for key in keys:
            calendar = stub.GetCalendar(
                pb.GetCalendarRequest(profile_id=str(key), platform=PLATFORM_TO_PB[PLATFORM]),
                timeout=60,
            )
            soon = datetime.now(UTC) + SAFE_AHEAD
            ahead = [s for s in calendar.slots if s.scheduled_at.ToDatetime(UTC) > soon]
            held = [s.content_id for s in ahead if not s.free and s.status == "scheduled"]
            free = [s.scheduled_at.ToJsonString() for s in ahead if s.free]
            if min(len(held), len(free)) < wanted:
                raise RuntimeError(f"key {key}: {len(held)} contents, {len(free)} free slots")
            # the earliest contents to the latest free slots: each pair distinct
            per_key.append(
                [{"content_id": c, "to": to} for c, to in zip(held, free[-wanted:], strict=False)]
            )
    calls = [moves[n] for n in range(wanted) for moves in per_key if n < len(moves)]
    return calls[:count]


TEXTS = (
    "content_id",
    "media_type",
    "media_url",
    "title",
    "description",
    "first_comment",
    "alt_text",
)

# take_and_insert's arrays of contents to insert (none, when a move takes its instant)
INSERTED = [
    "content_ids",
    "profile_ids",
    "platforms",
    "slot_ids",
    "instants",
    "media_types",
    "media_urls",
    "titles",
    "descriptions",
    "options",
    "media",
    "first_comments",
    "alt_texts",
]


def explain(database_url: str, keys: dict[str, list[uuid.UUID]], updated: str, moved: str) -> None:
    """Times the statements behind C35, C7, U and M on the bench database with EXPLAIN ANALYZE
    (PostgreSQL's planning and execution time of each; the writes rolled back)."""
    now = datetime.now(UTC)
    key: dict[str, Any] = {"profile_id": keys["C"][0], "platform": PLATFORM.value}
    with psycopg.connect(database_url) as conn:
        edited, moving = (
            conn.cursor(row_factory=dict_row)
            .execute("select * from contents where content_id = %s", (content_id,))
            .fetchone()
            or {}
            for content_id in (updated, moved)
        )
        mover = moving["profile_id"]
        at_move = {"profile_id": mover, "platform": moving["platform"]}
        free = conn.execute(
            "select min(scheduled_at) from free_slots where profile_id = %(profile_id)s"
            " and platform = %(platform)s and scheduled_at > now() + interval '3 hours'",
            at_move,
        ).fetchone()
        assert free is not None
        to: datetime = free[0]  # a free slot of the moved content's key
        statements: list[tuple[str, str, dict[str, Any]]] = [
            (
                "C35 calendar_contents",
                QUERIES["calendar_contents"],
                key | {"start": now, "end": now + timedelta(days=35)},
            ),
            (
                "C7 calendar_contents",
                QUERIES["calendar_contents"],
                key | {"start": now, "end": now + timedelta(days=7)},
            ),
            ("U, M get_content", QUERIES["get_content"], {"content_id": updated}),
            ("U lock_content", QUERIES["lock_content"], {"content_id": updated}),
            (
                "U update_content",
                QUERIES["update_content"],
                {
                    **{f: edited[f] for f in TEXTS},
                    "media": Jsonb(edited["media"]),
                    "options": Jsonb(edited["platform_options"]),
                    "fields": Jsonb(["title"]),
                    "now": now,
                },
            ),
            ("M lock_keys", QUERIES["lock_keys"], {"keys": [advisory_key(mover, PLATFORM)]}),
            (
                "M key_states",
                QUERIES["key_states"],
                {"profile_ids": [mover], "platforms": [PLATFORM.value]},
            ),
            (
                "M spenders_at",
                QUERIES["spenders_at"],
                at_move | {"scheduled_at": to, "moving": moving["content_id"]},
            ),
            (
                "M counted_instants",
                COUNTING["counted_instants"],
                counting_params(
                    [
                        (
                            moving["profile_id"],
                            PLATFORM,
                            to - timedelta(days=1),
                            to + timedelta(days=1),
                        )
                    ],
                    moving["content_id"],
                ),
            ),
            (
                "M return_free_slot",
                QUERIES["return_free_slot"],
                at_move | {"scheduled_at": moving["scheduled_at"], "slot_id": moving["slot_id"]},
            ),
            (
                "M take_and_insert",
                QUERIES["take_and_insert"],
                {"taken_profile_ids": [mover], "taken_platforms": [PLATFORM.value]}
                | {"taken_instants": [to], "now": None}
                | {name: [] for name in INSERTED},
            ),
            (
                "M move_content",
                QUERIES[by_event("move_content", Event.RESCHEDULE)],
                {
                    "content_id": moving["content_id"],
                    "slot_id": moving["slot_id"],
                    "scheduled_at": to,
                    "reason": "explain",
                    "now": now,
                },
            ),
        ]
        for label, statement, params in statements:
            plan = conn.execute(f"explain (analyze, buffers) {statement}", params).fetchall()
            timing = ", ".join(
                r[0].strip().replace(" Time", "")
                for r in plan
                if r[0].startswith(("Planning Time", "Execution Time"))
            )
            print(f"  {label:<24} {timing}; top node: {plan[0][0].strip()[:70]}")
        conn.rollback()


def measure(database_url: str, scale: float = 1.0) -> tuple[dict[str, tuple[Run, Run]], bool]:
    """Runs every scenario on `database_url` (migrated, empty), printing each as it ends;
    returns each scenario's run and its echo ceiling, by label, and whether the database
    checks held."""
    n = lambda count: max(1, int(count * scale))  # noqa: E731
    results: dict[str, tuple[Run, Run]] = {}
    started = time.monotonic()
    keys = asyncio.run(seed(database_url))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("vacuum (analyze)")  # no autovacuum of the seeding inside a scenario
        version = conn.execute("show server_version").fetchone()
    print(f"PostgreSQL {version[0] if version else '?'}", flush=True)
    print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
    with ExitStack() as parts:
        replicas = []
        for _ in range(2):
            port = free_port()
            process = parts.enter_context(
                part(
                    "allocator",
                    DATABASE_URL=database_url,
                    ALLOCATOR_LISTEN=f"127.0.0.1:{port}",
                    ALLOCATOR_DB_POOL_SIZE="10",
                )
            )
            wait_for_port(port, process)
            replicas.append((f"127.0.0.1:{port}", process.pid))
        addresses = [address for address, _ in replicas]
        pids = [pid for _, pid in replicas]
        acknowledged: list[tuple[str, str, str]] = []

        def scenario(label: str, kind: str, calls: list[dict[str, Any]]) -> Run:
            echo_cpu = -sum(map(cpu_seconds, pids))
            echo = drive(addresses, "echo", echo_calls(len(calls)))
            echo_cpu += sum(map(cpu_seconds, pids))
            run_cpu = -sum(map(cpu_seconds, pids))
            with server_work(database_url) as work:
                run = drive_posts(addresses, kind, calls)
                run_cpu += sum(map(cpu_seconds, pids))
            run.server, run.replica_cpu = work, run_cpu
            acknowledged.extend(run.acknowledged)
            results[label] = (run, echo)
            print(line(label, run, echo, pids), flush=True)
            print(
                f"{'':<40} errors by code: {run.errors or 'none'}; server CPU per call: echo"
                f" {echo_cpu / echo.calls * 1e6:.0f} us, this {run_cpu / run.calls * 1e6:.0f} us;"
                f" client CPU per call: echo {echo.client_cpu / echo.calls * 1e6:.0f} us, this"
                f" {run.client_cpu / run.calls * 1e6:.0f} us; per call: {work.per(run.calls)}",
                flush=True,
            )
            return run

        def assign_calls(name: str, count: int) -> list[dict[str, Any]]:
            return [
                {"profile_id": str(keys[name][i % len(keys[name])]), "rich": name == "A2"}
                for i in range(count)
            ]

        print(f"echo ceiling and scenarios, {IN_FLIGHT} in flight, 2 replicas, one client process")
        a1 = scenario(
            f"A1 AssignNext plain, {len(keys['A1'])} keys", "assign", assign_calls("A1", n(10_000))
        )
        a2 = scenario(
            f"A2 AssignNext carousel x{CAROUSEL} + options", "assign", assign_calls("A2", n(10_000))
        )
        print(f"{'':<40} A2/A1 = {a2.rate / a1.rate:.2f}", flush=True)
        updates = [{"content_id": a[0]} for a in a2.acknowledged[: n(5_000)]]
        u = scenario("U UpdateContent title+first_comment", "update", updates)
        moves = move_calls(addresses[0], keys["M"], n(2_000))
        scenario(f"M MoveContent, {len(keys['M'])} keys", "move", moves)
        calendar = [{"profile_id": str(k)} for k in keys["C"]]
        c7 = scenario(
            "C7 GetCalendar 7 days",
            "calendar",
            [calendar[i % len(calendar)] | {"days": 7} for i in range(n(2_000))],
        )
        c35 = scenario(
            "C35 GetCalendar 35 days",
            "calendar",
            [calendar[i % len(calendar)] | {"days": 35} for i in range(n(2_000))],
        )
        print(f"{'':<40} C35/C7 = {c35.rate / c7.rate:.2f}", flush=True)

    stacked, moved = check_database(database_url, acknowledged)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(*) from contents where revision = 2 and content_id = any(%s::uuid[])",
            ([c["content_id"] for c in updates],),
        ).fetchone()
        hot = conn.execute(
            "select n_tup_upd, n_tup_hot_upd from pg_stat_user_tables where relname = 'contents'"
        ).fetchone()
    at_two = int(row[0]) if row else 0
    print(
        f"database: {len(acknowledged):,} acknowledged assignments and moves; slots holding two"
        f" contents: {stacked}; acknowledged contents not where they were told: {moved};"
        f" updated contents at revision 2: {at_two:,} of {len(updates):,} ({u.calls:,} calls);"
        f" row updates of contents since seeding (moves and edits) {hot[0] if hot else 0:,},"
        f" of them HOT {hot[1] if hot else 0:,}"
    )
    print("statements, EXPLAIN ANALYZE on the bench database:")
    explain(database_url, keys, updates[0]["content_id"], moves[0]["content_id"])
    return results, stacked == 0 and moved == 0 and at_two == len(updates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="every scenario's calls times this"
    )
    args = parser.parse_args()
    started = time.monotonic()
    with bench_database() as database_url:
        results, held = measure(database_url, args.scale)
    print(f"whole run {time.monotonic() - started:.0f} s")
    failed = [label for label, (run, _) in results.items() if run.errors]
    if failed or not held:
        sys.exit(f"FAILED: errors in {failed}" if failed else "FAILED: the database checks")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "client":
        measured = asyncio.run(client(json.loads(Path(sys.argv[2]).read_text())))
        Path(sys.argv[3]).write_text(json.dumps(measured))
    else:
        main()
