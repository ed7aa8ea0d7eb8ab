"""The morning herd: 1,000 contents (500 profiles x TikTok and Instagram, one content each) fall
due at the same instant, and two Uploader replicas publish them through the sandbox, which
enforces a plan of 600 requests a minute, 2 posts a minute per profile and the daily caps, and
takes 1 s to answer each post. Every part is a real process (`queuelabs sandbox`, `allocator`,
`uploader` x 2) on a fresh database.

Printed for the paced scenario: 429s received (target 0), the request rate achieved once the
herd is under way against the plan's (target >= 0.9), dispatch lag p50/p99/max, the spread of
lag between profiles, and publications per content (exactly 1 each, from the sandbox's record).

A second scenario lifts every limit and measures the Uploader's own throughput against a bare
httpx loop posting to the same sandbox at the same concurrency, measured in the same run
(target >= 0.7x).

`--webhooks` runs the paced herd twice instead, without and with the Uploader's receiver for
Upload-Post's webhooks (registered with the sandbox, which sends `upload_completed` for every
job), and prints the status polls and how long the herd took to settle, before and after.

Run: `uv run python bench/herd.py` (BENCH_DATABASE_URL, DATABASE_URL, or an embedded
PostgreSQL); `--profiles N` for a smaller herd; `--history 2000000` on a database holding that
many finished contents (bench.history; `bench.history_cost` compares with an empty one). It
stops by itself (at most 15 minutes a scenario) and sends traffic to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time

import httpx
import psycopg

from allocator.domain import ContentSpec, Profile, SlotSpec
from allocator.service import AllocationPolicy, AllocatorService
from allocator.storage import AllocatorStore
from bench.database import bench_database, count_in
from bench.history import CAPTION, MEDIA_URL, TITLE, add_key_history, uuid7
from bench.processes import ServerWork, cpu_seconds, free_port, part, server_work, wait_for_port
from queuelabs.clock import SystemClock
from queuelabs.database import open_pool
from queuelabs.lifecycle import ContentState
from queuelabs.platforms import MediaType, Platform
from queuelabs.sql import sql_values
from uploader.domain import AttemptKind

KEY = "bench-key"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789abcdef"
PLAN = 600  # requests a minute
PLATFORMS = (Platform.TIKTOK, Platform.INSTAGRAM)
QUEUELABS = [sys.executable, "-m", "commands"]
SCENARIO_LIMIT = 15 * 60  # seconds
SETTLED = (ContentState.UPLOADED, ContentState.FAILED)


async def seed(database_url: str, profiles: int, uuid7_ids: bool = False) -> list[uuid.UUID]:
    """`profiles` profiles, one content on each platform (the size of a real one; its id a
    version 7 UUID if `uuid7_ids`, else a random one); returns the contents' ids."""
    contents: list[uuid.UUID] = []
    pool = await open_pool(database_url, size=4, wait_seconds=60)
    try:
        service = AllocatorService(
            AllocatorStore(pool), SystemClock(), AllocationPolicy(lead_time=timedelta(0))
        )
        slot = [SlotSpec(wall_time(6, 0), frozenset())]
        for i in range(profiles):
            profile = Profile(uuid.uuid4(), f"p{i}", f"user{i}", "Asia/Jakarta")
            await service.upsert_profile(profile)
            for platform in PLATFORMS:
                await service.set_schedule(profile.profile_id, platform, slot)
                spec = ContentSpec(
                    uuid7() if uuid7_ids else uuid.uuid4(),
                    MediaType.VIDEO,
                    media_url=MEDIA_URL.format(uuid.uuid4()),
                    title=TITLE.format(len(contents)),
                    description=CAPTION,
                )
                await service.assign_next(profile.profile_id, platform, spec, None)
                contents.append(spec.content_id)
    finally:
        await pool.close()
    return contents


def fall_due(database_url: str, contents: list[uuid.UUID], due_at: datetime) -> None:
    """The herd: every content due at the same instant (06:00 WIB stands in for it)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "update contents set scheduled_at = %s where content_id = any(%s)", (due_at, contents)
        )


@dataclass
class Herd:
    seconds: float
    lags: dict[str, float]  # content -> seconds from its slot to its first publish call
    lag_by_profile: dict[str, float]  # profile -> mean lag of its contents
    requests: list[dict[str, object]]
    per_content: Counter[str]
    failed: int
    uploader_cpu: float  # seconds, both replicas, from the herd's instant until all settled
    server: ServerWork  # what the database server did over the same time


KEY_HISTORY = 100  # finished contents of each herd key, when the run has a history

# Something to run beside the herd (bench.events: a watcher and a webhook receiver), given the
# database and the replicas' ports: entered once the replicas listen, before the herd falls
# due; left after the herd's figures are read, while every part still runs.
Attach = Callable[[str, list[int]], AbstractContextManager[object]]


def run_herd(
    profiles: int,
    *,
    paced: bool,
    in_flight: int,
    history: int = 0,
    database_url: str = "",
    uuid7_ids: bool = False,
    uploader_env: dict[str, str] | None = None,
    attach: Attach | None = None,
    webhooks: bool = False,
) -> Herd:
    """Seeds a fresh database (or `database_url`: migrated, holding no herd), starts every
    part, lets the herd fall due, waits for it. `history`: finished contents (bench.history)
    in the database first, and KEY_HISTORY on each herd key; `uuid7_ids`: the herd's content
    ids are version 7 UUIDs (time-ordered), not random; `uploader_env`: more settings for the
    replicas; `attach`: observers beside the herd (see Attach); `webhooks`: each replica hears
    Upload-Post's webhooks, the first replica's receiver registered with the sandbox (one URL,
    as behind a load balancer)."""
    with ExitStack() as parts:
        if not database_url:
            database_url = parts.enter_context(bench_database(history))
        sandbox_port, allocator_port = free_port(), free_port()
        limits = {
            "UPLOAD_POST_REQUESTS_PER_MINUTE": str(PLAN if paced else 100_000),
            "UPLOAD_POST_POSTS_PER_MINUTE_PER_PROFILE": str(2 if paced else 100_000),
        }
        sandbox = parts.enter_context(
            part(
                "sandbox",
                LOG_LEVEL="WARNING",
                SANDBOX_LISTEN=f"127.0.0.1:{sandbox_port}",
                SANDBOX_API_KEY=KEY,
                SANDBOX_UPLOAD_SECONDS="1",
                SANDBOX_ASYNC_SECONDS="5",
                SANDBOX_REQUESTS_PER_MINUTE=str(PLAN if paced else 0),
                SANDBOX_POSTS_PER_MINUTE_PER_PROFILE="2" if paced else "0",
            )
        )
        wait_for_port(sandbox_port, sandbox)
        allocator = parts.enter_context(
            part(
                "allocator",
                LOG_LEVEL="WARNING",
                DATABASE_URL=database_url,
                ALLOCATOR_LISTEN=f"127.0.0.1:{allocator_port}",
            )
        )
        wait_for_port(allocator_port, allocator)
        contents = asyncio.run(seed(database_url, profiles, uuid7_ids))
        if history:
            add_key_history(database_url, KEY_HISTORY)
        due_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        fall_due(database_url, contents, due_at)
        replicas: list[int] = []
        ports: list[int] = []
        receivers: list[int] = []
        for _ in range(2):
            port = free_port()
            hearing = {}
            if webhooks:
                receivers.append(free_port())
                hearing = {
                    "UPLOAD_POST_WEBHOOK_LISTEN": f"127.0.0.1:{receivers[-1]}",
                    "UPLOAD_POST_WEBHOOK_SECRET": WEBHOOK_SECRET,
                }
            replica = parts.enter_context(
                part(
                    "uploader",
                    LOG_LEVEL="WARNING",
                    DATABASE_URL=database_url,
                    UPLOADER_LISTEN=f"127.0.0.1:{port}",
                    ALLOCATOR_ADDR=f"127.0.0.1:{allocator_port}",
                    UPLOAD_POST_BASE_URL=f"http://127.0.0.1:{sandbox_port}/api",
                    UPLOAD_POST_API_KEY=KEY,
                    UPLOADER_MAX_IN_FLIGHT=str(in_flight),
                    UPLOADER_DB_POOL_SIZE="20",
                    **limits,
                    **hearing,
                    **(uploader_env or {}),
                )
            )
            wait_for_port(port, replica)
            replicas.append(replica.pid)
            ports.append(port)
        if webhooks:
            url = f"http://127.0.0.1:{receivers[0]}/upload-post/webhooks/{WEBHOOK_SECRET}"
            registered = httpx.post(
                f"http://127.0.0.1:{sandbox_port}/api/uploadposts/users/notifications",
                headers={"Authorization": f"Apikey {KEY}"},
                json={"channels": {"webhook": True}, "webhook_url": url},
                timeout=30,
            )
            registered.raise_for_status()
        if attach:
            parts.enter_context(attach(database_url, ports))
        total = profiles * len(PLATFORMS)
        time.sleep(max(0.0, (due_at - datetime.now(UTC)).total_seconds()))
        started = time.monotonic()
        uploader_cpu = -sum(map(cpu_seconds, replicas))
        with server_work(database_url) as work:
            while count_in(database_url, contents, SETTLED) < total:
                if time.monotonic() - started > SCENARIO_LIMIT:
                    raise TimeoutError(f"the herd did not settle in {SCENARIO_LIMIT} s")
                time.sleep(0.5)
            seconds = time.monotonic() - started
            uploader_cpu += sum(map(cpu_seconds, replicas))
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "select c.content_id, c.profile_id, c.scheduled_at, min(a.started_at)"
                "  from contents c join upload_attempts a using (content_id)"
                f" where a.kind = {sql_values(AttemptKind.PUBLISH)} and c.content_id = any(%s)"
                " group by c.content_id",
                (contents,),
            ).fetchall()
            failed_row = conn.execute(
                "select count(*) from contents"
                f" where status = {sql_values(ContentState.FAILED)} and content_id = any(%s)",
                (contents,),
            ).fetchone()
        lags = {str(cid): (first - at).total_seconds() for cid, _, at, first in rows}
        by_profile: dict[str, list[float]] = defaultdict(list)
        for cid, profile_id, _, _ in rows:
            by_profile[str(profile_id)].append(lags[str(cid)])
        record = httpx.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/log", timeout=30).json()
        posted = httpx.get(
            f"http://127.0.0.1:{sandbox_port}/_sandbox/publications", timeout=30
        ).json()
        per_content = Counter(p["idempotency_key"].split(":")[1] for p in posted["publications"])
        return Herd(
            seconds,
            lags,
            {p: statistics.fmean(v) for p, v in by_profile.items()},
            record["requests"],
            per_content,
            int(failed_row[0]) if failed_row else 0,
            uploader_cpu,
            work,
        )


def bare_posts(port: int, first: int, count: int, concurrency: int) -> None:
    """One bare loop: `count` posts, `concurrency` at once, nothing around the calls."""

    async def post_all() -> None:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}/api",
            headers={"Authorization": f"Apikey {KEY}"},
            limits=httpx.Limits(max_connections=concurrency),
            timeout=60,
        ) as http:
            numbers = iter(range(first, first + count))

            async def worker() -> None:  # `concurrency` of these, each posting in turn
                for i in numbers:
                    form = {"user": f"user{i}", "platform[]": "tiktok", "video": "https://x/y"}
                    response = await http.post(
                        "/upload",
                        files=[(k, (None, v)) for k, v in form.items()],
                        headers={"Idempotency-Key": f"bare:{i}"},
                    )
                    response.raise_for_status()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(post_all())


def bare_loop(count: int, concurrency: int, processes: int = 2) -> float:
    """Posts `count` uploads to a fresh unlimited sandbox from `processes` bare httpx loops
    (the replicas' shape), `concurrency` at once each; returns posts per second, measured as
    the Uploader's are, from the sandbox's record."""
    port = free_port()
    with part(
        "sandbox",
        LOG_LEVEL="WARNING",
        SANDBOX_LISTEN=f"127.0.0.1:{port}",
        SANDBOX_API_KEY=KEY,
        SANDBOX_UPLOAD_SECONDS="1",
        SANDBOX_REQUESTS_PER_MINUTE="0",
        SANDBOX_POSTS_PER_MINUTE_PER_PROFILE="0",
    ) as sandbox:
        wait_for_port(port, sandbox)
        share = count // processes
        loops = [
            multiprocessing.Process(target=bare_posts, args=(port, i * share, share, concurrency))
            for i in range(processes)
        ]
        for loop in loops:
            loop.start()
        for loop in loops:
            loop.join(timeout=SCENARIO_LIMIT)
        record = httpx.get(f"http://127.0.0.1:{port}/_sandbox/log", timeout=30).json()
    return posting_rate(record["requests"])


def posting_rate(requests: list[dict[str, object]]) -> float:
    """Posts per second from the sandbox's record (the last answer takes 1 s)."""
    posts = sorted(float(str(r["at"])) for r in requests if r["method"] == "POST")
    return len(posts) / (posts[-1] + 1.0 - posts[0])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report_paced(herd: Herd, total: int) -> None:
    times = sorted(float(str(r["at"])) for r in herd.requests)
    statuses = Counter(int(str(r["status"])) for r in herd.requests)
    # "Under way": from a minute after the first request to the last post, in whole minutes.
    posts = [float(str(r["at"])) for r in herd.requests if str(r["path"]).startswith("/api/up")]
    start, end = times[0] + 60, max(posts)
    minutes = [
        sum(1 for t in times if s <= t < s + 60) for s in range(int(start), int(end) - 59, 60)
    ]
    lags = list(herd.lags.values())
    profile_lags = list(herd.lag_by_profile.values())
    print(f"\npaced: plan {PLAN}/min, 2 posts/min/profile, 1 s per upload, 2 replicas")
    print(f"  contents {total}, settled in {herd.seconds:.0f} s, failed {herd.failed}")
    print(f"  requests {len(times)}, by status {dict(sorted(statuses.items()))}")
    print(f"  429s received: {statuses.get(429, 0)} (target 0)")
    busiest = max(sum(1 for t in times if s <= t < s + 60) for s in times)
    print(f"  busiest 60 s: {busiest} requests (plan {PLAN})")
    if minutes:
        rate = statistics.fmean(minutes)
        print(
            f"  achieved rate under way: {rate:.0f}/min over {len(minutes)} full minute(s) = "
            f"{rate / PLAN:.2f} of the plan (target >= 0.9); per minute {minutes}"
        )
    else:
        print("  achieved rate under way: the herd was through in under two minutes")
    print(
        f"  dispatch lag p50 {pct(lags, 0.5):.1f} s, p99 {pct(lags, 0.99):.1f} s, "
        f"max {max(lags):.1f} s"
    )
    print(
        f"  lag between profiles (each profile's mean): min {min(profile_lags):.1f} s, "
        f"p50 {pct(profile_lags, 0.5):.1f} s, max {max(profile_lags):.1f} s"
    )
    counts = Counter(herd.per_content.values())
    print(f"  publications per content: {dict(counts)} (target: every content exactly 1)")


def status_polls(herd: Herd) -> int:
    return sum(1 for r in herd.requests if r["path"] == "/api/uploadposts/status")


def compare_webhooks(profiles: int, in_flight: int) -> None:
    """The paced herd polled, then heard: status polls and time to settle, each way."""
    total = profiles * len(PLATFORMS)
    runs = {
        heard: run_herd(profiles, paced=True, in_flight=in_flight, webhooks=heard)
        for heard in (False, True)
    }
    print(f"\npaced herd, {total} contents (half Instagram, async), 2 replicas, plan {PLAN}/min")
    for heard, herd in runs.items():
        counts = Counter(herd.per_content.values())
        print(
            f"  webhooks {'on ' if heard else 'off'}: settled in {herd.seconds:.0f} s, "
            f"requests {len(herd.requests)}, status polls {status_polls(herd)}, "
            f"failed {herd.failed}, publications per content {dict(counts)}"
        )
    off, on = runs[False], runs[True]
    drop = 1 - status_polls(on) / max(1, status_polls(off))
    print(
        f"  status polls dropped by {drop:.0%} (target >= 90%); settled in "
        f"{on.seconds / off.seconds:.2f} of the time (target < 1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=100, help="per replica")
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help=f"seed this many finished contents first (and {KEY_HISTORY} on each herd key)",
    )
    parser.add_argument(
        "--uuid7", action="store_true", help="content ids are version 7 UUIDs (time-ordered)"
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="the paced herd without and with Upload-Post's webhooks heard",
    )
    args = parser.parse_args()
    total = args.profiles * len(PLATFORMS)
    if args.webhooks:
        compare_webhooks(args.profiles, args.in_flight)
        return

    def herd_of(paced: bool) -> Herd:
        return run_herd(
            args.profiles,
            paced=paced,
            in_flight=args.in_flight,
            history=args.history,
            uuid7_ids=args.uuid7,
        )

    report_paced(herd_of(paced=True), total)

    free = herd_of(paced=False)
    # Posting throughput, from the sandbox's record: Instagram's async jobs then take their
    # own time to finish, which is the platform's, not the Uploader's.
    uploader_rate = posting_rate(free.requests)
    bare = bare_loop(total, args.in_flight)
    print(f"\nunpaced: no limits, 1 s per upload, 2 replicas x {args.in_flight} in flight")
    print(f"  Uploader: {uploader_rate:.1f} posts/s (all {total} settled in {free.seconds:.1f} s)")
    print(f"  bare httpx loops, 2 processes x {args.in_flight} at once: {bare:.1f} posts/s")
    print(f"  ratio {uploader_rate / bare:.2f} (target >= 0.7)")
    print(
        f"  CPU per content settled: Uploader replicas {free.uploader_cpu / total * 1e3:.2f} ms,"
        f" {free.server.per(total)}"
    )
    counts = Counter(free.per_content.values())
    print(f"  publications per content: {dict(counts)}")


if __name__ == "__main__":
    main()
