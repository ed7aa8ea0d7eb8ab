"""What telling the callers costs and how soon they hear: a WatchEvents stream and a webhook
endpoint beside the morning herd, the lag of a live event on an idle stack, and a fast webhook
endpoint beside one that takes 5 s to answer. Every part is a real process on a fresh database;
the observers (a watcher, aiohttp receivers on loopback verifying each call with the
`standardwebhooks` package) run in this process, on a thread of their own.

1. The herd (bench.herd's, paced, then unpaced), each twice: without, then with a watcher
   (from now on) and one webhook endpoint attached: events each observer received (target:
   every event the log holds for the run, each webhook-id at least once), events delivered per
   second against the rate the log was written at (target ~1.0), lag from the event's
   occurred_at to its receipt p50/p99/max for each, and the herd's own figures with observers
   against without (settled time, posts per second, requests a minute once under way,
   dispatch lag; target >= 0.9).
2. Idle: N changes one at a time (a content assigned, then released, ~0.5 s apart) on a stack
   doing nothing else: the watcher's lag and the webhook's, p50/p99/max (target p99 < 1 s).
3. Slow beside fast: a burst of events to one fast endpoint alone (the ceiling), then another
   burst with an endpoint answering after 5 s attached too: the fast one's lag p50/p99 with
   the slow one against without (target ~1.0).

Run: `uv run python -m bench.events` (BENCH_DATABASE_URL, DATABASE_URL, or an embedded
PostgreSQL); `--profiles N` for a smaller herd, `--only herd|idle|slow` for one scenario. It
stops by itself (each scenario has a time bound) and sends traffic to loopback only. Run it on
a server of its own (the embedded one): a reader never passes a transaction still running, and
transaction ids are the whole server's, so a transaction held open in any database of a shared
server holds every watcher and webhook back, and the lags measure that instead.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from typing import Any, TypeVar

import grpc
import psycopg
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from allocator.domain import ContentSpec, Profile, SlotSpec
from allocator.service import AllocationPolicy, AllocatorService
from allocator.storage import AllocatorStore
from bench.database import bench_database
from bench.herd import KEY, PLAN, Attach, Herd, pct, posting_rate, run_herd
from bench.history import CAPTION, MEDIA_URL, TITLE
from bench.processes import part_on_any_port
from queuelabs.clock import SystemClock
from queuelabs.database import open_pool
from queuelabs.platforms import MediaType, Platform
from queuelabs.uploader.v1 import uploader_pb2 as pb
from queuelabs.uploader.v1.uploader_pb2_grpc import UploaderStub

# The Uploader refuses a loopback webhook URL without it.
OBSERVABLE = {"WEBHOOKS_ALLOW_PRIVATE": "true"}
# How long the observers may take, once a scenario's changes are made, to receive every event
# of it; past that the scenario reports what is missing.
DRAIN_LIMIT = 120.0  # seconds
SLOW_ANSWER = 5.0  # seconds, the slow endpoint's
# The watcher's stream is open, and the server has read where "now" is, well within this.
SETTLE = 1.0  # seconds

T = TypeVar("T")


@dataclass(frozen=True)
class Receipt:
    """One event as an observer first received it (wall-clock seconds since the epoch)."""

    event_id: str
    occurred_at: float
    received_at: float

    @property
    def lag(self) -> float:
        return self.received_at - self.occurred_at


@dataclass
class Receiver:
    """A webhook endpoint's receiver: verifies each call with the endpoint's secret, answers
    204 (after `delay` seconds), and keeps the first receipt of each webhook-id."""

    delay: float = 0.0
    url: str = ""
    secret: str = ""  # set once the endpoint is created
    endpoint_id: str = ""
    first: dict[str, Receipt] = field(default_factory=dict)  # by webhook-id
    calls: int = 0
    unverified: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        received_at = time.time()
        body = await request.read()
        self.calls += 1
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.unverified += 1
            return web.Response(status=400)
        webhook_id = request.headers["webhook-id"]
        occurred_at = datetime.fromisoformat(payload["timestamp"]).timestamp()
        self.first.setdefault(
            webhook_id, Receipt(payload["data"]["event_id"], occurred_at, received_at)
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=204)

    @property
    def event_ids(self) -> set[str]:
        return {r.event_id for r in self.first.values()}


@dataclass
class Watcher:
    """A WatchEvents stream from now on: the first receipt of each event."""

    first: dict[str, Receipt] = field(default_factory=dict)  # by event_id
    messages: int = 0
    out_of_order: int = 0  # a cursor not above the one before (must stay 0)
    _last_cursor: str = ""

    async def follow(self, address: str) -> None:
        async with grpc.aio.insecure_channel(address) as channel:
            async for event in UploaderStub(channel).WatchEvents(pb.WatchEventsRequest()):
                received_at = time.time()
                self.messages += 1
                # Cursors are 32 hex digits: their order as strings is the log's.
                if event.cursor <= self._last_cursor:
                    self.out_of_order += 1
                self._last_cursor = event.cursor
                occurred_at = event.occurred_at.ToDatetime(tzinfo=UTC).timestamp()
                self.first.setdefault(
                    event.event_id, Receipt(event.event_id, occurred_at, received_at)
                )

    @property
    def event_ids(self) -> set[str]:
        return set(self.first)


class Observers:
    """The observers' own event loop, on a thread: the herd's side of this process blocks."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._runners: list[web.AppRunner] = []
        self._tasks: list[Future[None]] = []
        self.watcher = Watcher()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def watch(self, uploader_port: int) -> None:
        """Opens the watcher's stream (from now on) on the replica at `uploader_port`."""
        following = asyncio.run_coroutine_threadsafe(
            self.watcher.follow(f"127.0.0.1:{uploader_port}"), self.loop
        )
        self._tasks.append(following)
        time.sleep(SETTLE)
        if following.done():  # refused, or the server went away: say why now
            following.result()

    @property
    def watch_broke(self) -> str:
        """Why a watcher's stream ended before the end, if one did (else empty)."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return f"the watcher's stream ended: {task.exception()!r}"[:300]
        return ""

    def receive(self, uploader_port: int, delay: float = 0.0) -> Receiver:
        """A receiver on a port the system picks, and an endpoint for it (every event type)."""
        receiver = Receiver(delay)
        self.run(self._listen(receiver))
        created = self.run(self._create_endpoint(uploader_port, receiver.url))
        receiver.secret, receiver.endpoint_id = created.secret, created.endpoint_id
        return receiver

    def forget(self, uploader_port: int, receiver: Receiver) -> None:
        """Deletes the receiver's endpoint (its receiver keeps listening)."""
        self.run(self._delete_endpoint(uploader_port, receiver.endpoint_id))

    async def _listen(self, receiver: Receiver) -> None:
        app = web.Application()
        app.router.add_post("/hooks", receiver.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        [port] = {address[1] for address in runner.addresses}
        receiver.url = f"http://127.0.0.1:{port}/hooks"
        self._runners.append(runner)

    async def _create_endpoint(self, port: int, url: str) -> pb.CreateWebhookEndpointResponse:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            request = pb.CreateWebhookEndpointRequest(url=url, description="bench.events")
            response: pb.CreateWebhookEndpointResponse = await UploaderStub(
                channel
            ).CreateWebhookEndpoint(request)
            return response

    async def _delete_endpoint(self, port: int, endpoint_id: str) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            request = pb.DeleteWebhookEndpointRequest(endpoint_id=endpoint_id)
            await UploaderStub(channel).DeleteWebhookEndpoint(request)

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for runner in self._runners:
            self.run(runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


@contextmanager
def observing() -> Iterator[Observers]:
    observers = Observers()
    try:
        yield observers
    finally:
        observers.stop()


def logged_events(database_url: str, since: datetime) -> set[str]:
    """The ids of the events the log holds that occurred at or after `since`."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select event_id::text from events where occurred_at >= %s", (since,)
        ).fetchall()
    return {str(row[0]) for row in rows}


def written_rate(database_url: str, since: datetime) -> tuple[int, float]:
    """How many events occurred since `since`, and at how many a second (first to last)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(*), extract(epoch from max(occurred_at) - min(occurred_at))"
            "  from events where occurred_at >= %s",
            (since,),
        ).fetchone()
    assert row is not None
    count, span = int(row[0]), float(row[1] or 0.0)
    return count, count / span if span > 0 else float("nan")


def drain(wanted: set[str], *observers: Callable[[], set[str]]) -> float:
    """Waits (at most DRAIN_LIMIT) until every observer has received every event of `wanted`;
    returns how long it waited."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_LIMIT:
        if all(wanted <= received() for received in observers):
            break
        time.sleep(0.2)
    return time.monotonic() - started


def lag_line(name: str, receipts: list[Receipt]) -> str:
    if not receipts:
        return f"  {name}: nothing received"
    lags = [r.lag for r in receipts]
    return (
        f"  {name} lag: p50 {pct(lags, 0.5) * 1e3:.0f} ms, p99 {pct(lags, 0.99) * 1e3:.0f} ms,"
        f" max {max(lags) * 1e3:.0f} ms over {len(lags)} events"
    )


def delivered_rate(receipts: list[Receipt]) -> float:
    """Events received a second, first receipt to last."""
    times = sorted(r.received_at for r in receipts)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return len(times) / span if span > 0 else float("nan")


# 1. The herd, without then with observers


@dataclass
class HerdObserved:
    """What the observers of one herd saw."""

    logged: set[str] = field(default_factory=set)
    written: tuple[int, float] = (0, 0.0)
    drained_in: float = 0.0
    watched: list[Receipt] = field(default_factory=list)
    hooked: list[Receipt] = field(default_factory=list)
    watcher_missing: int = 0
    hook_missing: int = 0
    hook_calls: int = 0
    hook_unverified: int = 0
    out_of_order: int = 0
    earlier: tuple[int, int] = (0, 0)  # events from before the run: watcher, webhook
    watch_broke: str = ""


def herd_observers(seen: HerdObserved) -> Attach:
    """bench.herd's Attach: a watcher on the first replica and one webhook endpoint, created
    before the herd falls due; at the end, waits for both to receive every event of the run
    and keeps what they received in `seen`."""

    @contextmanager
    def attach(database_url: str, ports: list[int]) -> Iterator[None]:
        since = datetime.now(UTC)  # nothing happens between here and the herd's instant
        with observing() as observers:
            receiver = observers.receive(ports[-1])
            observers.watch(ports[0])
            yield
            seen.logged = logged_events(database_url, since)
            seen.written = written_rate(database_url, since)
            watcher = observers.watcher
            seen.drained_in = drain(
                seen.logged, lambda: watcher.event_ids, lambda: receiver.event_ids
            )
            # A watcher from now on also gets events that committed before it started but
            # lay beyond the log's horizon then (a transaction anywhere on the server was
            # still running): the seed's. They are not the run's: counted apart.
            seen.watched = [r for r in watcher.first.values() if r.event_id in seen.logged]
            seen.hooked = [r for r in receiver.first.values() if r.event_id in seen.logged]
            seen.earlier = (
                len(watcher.event_ids - seen.logged),
                len(receiver.event_ids - seen.logged),
            )
            seen.watcher_missing = len(seen.logged - watcher.event_ids)
            seen.hook_missing = len(seen.logged - receiver.event_ids)
            seen.hook_calls, seen.hook_unverified = receiver.calls, receiver.unverified
            seen.out_of_order = watcher.out_of_order
            seen.watch_broke = observers.watch_broke

    return attach


def herd_figures(herd: Herd) -> tuple[float, float, float, float]:
    """Settled seconds, posts a second (bench.herd's measure), dispatch lag p50 and p99."""
    lags = list(herd.lags.values())
    return herd.seconds, posting_rate(herd.requests), pct(lags, 0.5), pct(lags, 0.99)


def rate_under_way(herd: Herd) -> float | None:
    """Requests a minute once under way, as bench.herd reports the paced herd's: whole minutes
    from a minute after the first request to the last post; None if the herd was through in
    under two minutes."""
    times = sorted(float(str(r["at"])) for r in herd.requests)
    posts = [float(str(r["at"])) for r in herd.requests if str(r["path"]).startswith("/api/up")]
    start, end = times[0] + 60, max(posts)
    minutes = [
        sum(1 for t in times if s <= t < s + 60) for s in range(int(start), int(end) - 59, 60)
    ]
    return sum(minutes) / len(minutes) if minutes else None


def herd_scenario(profiles: int, in_flight: int, paced: bool) -> None:
    total = profiles * 2
    alone = run_herd(profiles, paced=paced, in_flight=in_flight, uploader_env=OBSERVABLE)
    seen = HerdObserved()
    observed = run_herd(
        profiles,
        paced=paced,
        in_flight=in_flight,
        uploader_env=OBSERVABLE,
        attach=herd_observers(seen),
    )
    pace = f"paced (plan {PLAN}/min)" if paced else f"unpaced ({in_flight} in flight a replica)"
    print(f"\n1. the herd: {total} contents, {pace}, 2 replicas")
    count, rate = seen.written
    print(f"  events the log holds for the run: {count}, written at {rate:.1f}/s")
    for name, receipts, missing in (
        ("watcher", seen.watched, seen.watcher_missing),
        ("webhook", seen.hooked, seen.hook_missing),
    ):
        delivered = delivered_rate(receipts)
        print(
            f"  {name}: received {len(receipts)} events, missing {missing} (target 0);"
            f" {delivered:.1f} events/s = {delivered / rate:.2f} of the rate written"
        )
        print(lag_line(name, receipts))
    print(
        f"  webhook calls {seen.hook_calls} for {len(seen.hooked)} webhook-ids"
        f" (each at least once), unverified {seen.hook_unverified} (target 0);"
        f" watcher cursors out of order {seen.out_of_order} (target 0);"
        f" all received {seen.drained_in:.1f} s after the herd settled"
    )
    print(
        f"  events from before the run received too (the seed's, still beyond the log's"
        f" horizon when the observers started): watcher {seen.earlier[0]},"
        f" webhook {seen.earlier[1]}"
    )
    if seen.watch_broke:
        print(f"  {seen.watch_broke}")
    base, now = herd_figures(alone), herd_figures(observed)
    print("  the herd's own figures, without -> with observers (ratio, target >= 0.9):")
    print(f"    settled in {base[0]:.1f} s -> {now[0]:.1f} s ({base[0] / now[0]:.2f})")
    print(f"    posts/s {base[1]:.2f} -> {now[1]:.2f} ({now[1] / base[1]:.2f})")
    before, after = rate_under_way(alone), rate_under_way(observed)
    if before and after:
        print(f"    requests/min once under way {before:.0f} -> {after:.0f} ({after / before:.2f})")
    for label, i in (("p50", 2), ("p99", 3)):
        print(
            f"    dispatch lag {label} {base[i]:.1f} s -> {now[i]:.1f} s"
            f" ({base[i] / now[i] if now[i] > 0 else float('nan'):.2f})"
        )
    print(f"    failed {alone.failed} -> {observed.failed}")


# 2 and 3. A stack doing nothing but what the scenario does


@contextmanager
def idle_stack() -> Iterator[tuple[str, list[int]]]:
    """A fresh database, the sandbox, the Allocator and two Uploader replicas, no content due;
    yields the database and the replicas' ports. Each part listens on a port the system picks
    (read from its start-up line, logged at INFO), so that no other process on a shared
    machine can take it between choosing and binding, and a watcher never reaches another
    stack's Uploader."""
    with ExitStack() as parts:
        database_url = parts.enter_context(bench_database())
        _, sandbox_port = parts.enter_context(
            part_on_any_port("sandbox", "SANDBOX_LISTEN", LOG_LEVEL="INFO", SANDBOX_API_KEY=KEY)
        )
        _, allocator_port = parts.enter_context(
            part_on_any_port(
                "allocator", "ALLOCATOR_LISTEN", LOG_LEVEL="INFO", DATABASE_URL=database_url
            )
        )
        ports = []
        for _ in range(2):
            _, port = parts.enter_context(
                part_on_any_port(
                    "uploader",
                    "UPLOADER_LISTEN",
                    LOG_LEVEL="INFO",
                    DATABASE_URL=database_url,
                    ALLOCATOR_ADDR=f"127.0.0.1:{allocator_port}",
                    UPLOAD_POST_BASE_URL=f"http://127.0.0.1:{sandbox_port}/api",
                    UPLOAD_POST_API_KEY=KEY,
                    **OBSERVABLE,
                )
            )
            ports.append(port)
        yield database_url, ports


class Changes:
    """Changes that each write one event: contents of one profile assigned (its slot is at
    06:00 in Jakarta, days ahead: nothing falls due) and released, through the Allocator's
    own service and storage, so each event is written as the Allocator process writes it."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url

    async def __aenter__(self) -> Changes:
        self._pool = await open_pool(self._database_url, size=4, wait_seconds=60)
        self.service = AllocatorService(
            AllocatorStore(self._pool), SystemClock(), AllocationPolicy(lead_time=timedelta(0))
        )
        self.profile = Profile(uuid.uuid4(), "events", "events-bench", "Asia/Jakarta")
        await self.service.upsert_profile(self.profile)
        await self.service.set_schedule(
            self.profile.profile_id, Platform.TIKTOK, [SlotSpec(wall_time(6, 0), frozenset())]
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._pool.close()

    async def assign(self) -> uuid.UUID:
        spec = ContentSpec(
            uuid.uuid4(),
            MediaType.VIDEO,
            media_url=MEDIA_URL.format(uuid.uuid4()),
            title=TITLE.format(0),
            description=CAPTION,
        )
        await self.service.assign_next(self.profile.profile_id, Platform.TIKTOK, spec, None)
        return spec.content_id

    async def release(self, content_id: uuid.UUID) -> None:
        await self.service.release(content_id, "bench.events")


def idle_scenario(changes: int) -> None:
    with idle_stack() as (database_url, ports), observing() as observers:
        receiver = observers.receive(ports[-1])
        observers.watch(ports[0])
        since = datetime.now(UTC)

        async def one_at_a_time() -> None:
            async with Changes(database_url) as made:
                for _ in range(changes // 2):
                    content_id = await made.assign()
                    await asyncio.sleep(0.5)
                    await made.release(content_id)
                    await asyncio.sleep(0.5)

        asyncio.run(one_at_a_time())
        logged = logged_events(database_url, since)
        watcher = observers.watcher
        waited = drain(logged, lambda: watcher.event_ids, lambda: receiver.event_ids)
        watched = [r for r in watcher.first.values() if r.event_id in logged]
        hooked = [r for r in receiver.first.values() if r.event_id in logged]
        broke = observers.watch_broke
    print(f"\n2. idle: {len(logged)} changes one at a time, ~0.5 s apart, 2 replicas")
    print(lag_line("watcher", watched) + " (target p99 < 1000 ms)")
    print(lag_line("webhook", hooked))
    print(
        f"  missing: watcher {len(logged - watcher.event_ids)},"
        f" webhook {len(logged - receiver.event_ids)} (target 0; waited {waited:.1f} s)"
    )
    if broke:
        print(f"  {broke}")


@dataclass
class Burst:
    """What the fast endpoint received of one burst."""

    got: list[Receipt]
    missing: int
    written: float  # events a second, as the log was written
    received: float  # events a second, as the endpoint received them


def slow_scenario(burst: int, rounds: int) -> None:
    alone: list[Burst] = []
    beside: list[Burst] = []
    slow_calls = 0
    with idle_stack() as (database_url, ports), observing() as observers:
        fast = observers.receive(ports[-1])

        def one_burst() -> Burst:
            since = datetime.now(UTC)

            async def burst_of_events() -> None:
                async with Changes(database_url) as made:
                    for _ in range(burst):
                        await made.assign()

            asyncio.run(burst_of_events())
            logged = logged_events(database_url, since)
            drain(logged, lambda: fast.event_ids)
            got = [r for r in fast.first.values() if r.event_id in logged]
            written = written_rate(database_url, since)[1]
            return Burst(got, len(logged - fast.event_ids), written, delivered_rate(got))

        # Alone and beside in turn, so that neither gains from coming later (a warmer cache,
        # a longer log); the slow endpoint is deleted after each of its bursts.
        for _ in range(rounds):
            alone.append(one_burst())
            slow = observers.receive(ports[-1], delay=SLOW_ANSWER)
            beside.append(one_burst())
            slow_calls += slow.calls
            observers.forget(ports[-1], slow)
    print(f"\n3. slow beside fast: {rounds} x 2 bursts of {burst} events, 2 replicas")
    for name, bursts in (
        ("fast endpoint alone (the ceiling)", alone),
        (f"fast endpoint beside one answering in {SLOW_ANSWER:.0f} s", beside),
    ):
        print(lag_line(name, [r for b in bursts for r in b.got]))
        print(
            f"    written at {statistics.fmean(b.written for b in bursts):.1f} events/s,"
            f" received at {statistics.fmean(b.received for b in bursts):.1f} events/s"
            f" (means of the bursts)"
        )
    a = [r.lag for b in alone for r in b.got]
    b = [r.lag for b in beside for r in b.got]
    if a and b:
        print(
            f"  ratio beside/alone: p50 {pct(b, 0.5) / pct(a, 0.5):.2f},"
            f" p99 {pct(b, 0.99) / pct(a, 0.99):.2f} (target ~1.0)"
        )
    print(
        f"  missing at the fast endpoint: {sum(x.missing for x in alone)} alone,"
        f" {sum(x.missing for x in beside)} beside (target 0); the slow one was called"
        f" {slow_calls} times meanwhile"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=500, help="the herd's (2 contents each)")
    parser.add_argument("--in-flight", type=int, default=100, help="per replica")
    parser.add_argument("--changes", type=int, default=60, help="the idle scenario's")
    parser.add_argument("--burst", type=int, default=200, help="events a burst (slow/fast)")
    parser.add_argument("--rounds", type=int, default=3, help="of alone, then beside (slow/fast)")
    parser.add_argument("--only", choices=("herd", "idle", "slow"))
    args = parser.parse_args()
    if args.only in (None, "herd"):
        herd_scenario(args.profiles, args.in_flight, paced=True)
        # Unpaced, the Uploader's own speed is the limit: what observers cost shows plainly.
        herd_scenario(args.profiles, args.in_flight, paced=False)
    if args.only in (None, "idle"):
        idle_scenario(args.changes)
    if args.only in (None, "slow"):
        slow_scenario(args.burst, args.rounds)
    print("\n(lag: the wall clock at receipt - the event's occurred_at, one machine's clock)")


if __name__ == "__main__":
    main()
