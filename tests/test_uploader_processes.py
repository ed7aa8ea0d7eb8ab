"""Uploader replicas as real processes: one killed with SIGKILL mid-publish, two on one queue."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from allocator.server import RunningAllocator, start_allocator
from allocator.settings import AllocatorSettings
from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.clock import FakeClock
from sandbox.limits import Meter, SandboxLimits
from sandbox.server import RunningSandbox, start_sandbox
from tests.support.calls import EVERY_TEN_MINUTES, assign, make_profile, video
from tests.support.polling import until
from tests.support.processes import ServiceProcess, service_process
from tests.support.stack import KEY


@dataclass
class Backdrop:
    """An Allocator whose clock is two days behind (so what it assigns is due) and a sandbox."""

    allocator: AllocatorStub
    allocator_server: RunningAllocator
    sandbox: RunningSandbox
    database_url: str


@pytest.fixture
async def backdrop(database_url) -> AsyncIterator[Backdrop]:
    sandbox = await start_sandbox("127.0.0.1", 0, KEY, async_seconds=0.2)
    allocator = await start_allocator(
        AllocatorSettings(
            database_url,
            listen="127.0.0.1:0",
            pool_size=4,
            lead_time=timedelta(0),
            daily_caps={},  # every ten minutes: more than a cap allows, and not what is tested
        ),
        FakeClock(datetime.now(UTC) - timedelta(days=2)),
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{allocator.port}")
    try:
        yield Backdrop(AllocatorStub(channel), allocator, sandbox, database_url)
    finally:
        await channel.close()
        await allocator.stop(grace=1)
        await sandbox.stop()


@contextmanager
def uploader(backdrop: Backdrop, **env: str) -> Iterator[ServiceProcess]:
    settings = {
        "DATABASE_URL": backdrop.database_url,
        "ALLOCATOR_ADDR": f"127.0.0.1:{backdrop.allocator_server.port}",
        "UPLOAD_POST_BASE_URL": backdrop.sandbox.base_url,
        "UPLOAD_POST_API_KEY": KEY,
        "UPLOADER_LEASE_SECONDS": "4",
        "UPLOADER_READ_TIMEOUT_SECONDS": "3",
        "UPLOADER_RETRY_SCALE": "0.01",
        "UPLOADER_IDLE_SECONDS": "0.05",
        "UPLOADER_MAX_LATENESS_SECONDS": "604800",
        "UPLOAD_POST_REQUESTS_PER_MINUTE": "100000",  # pacing has tests of its own
        "UPLOAD_POST_POSTS_PER_MINUTE_PER_PROFILE": "100000",
    }
    with service_process("uploader", "UPLOADER_LISTEN", **{**settings, **env}) as running:
        yield running


@contextmanager
def held(sandbox: RunningSandbox) -> Iterator[None]:
    """Posting requests wait unanswered inside the sandbox until the block ends: a publish that
    has reached it is provably in flight however fast or slow the machine (see `arrived`)."""
    sandbox.state.released.clear()
    try:
        yield
    finally:
        sandbox.state.released.set()


def arrived(sandbox: RunningSandbox, count: int = 1) -> bool:
    """Whether `count` posting requests have reached the sandbox (held ones included)."""
    return len(sandbox.state.requests) >= count


def stopping(running: ServiceProcess) -> bool:
    """Whether the process has taken its SIGTERM (it logs so before it drains)."""
    return "stopping: no new calls or claims" in running.log.read_text()


def states(db) -> Counter[str]:
    return Counter(s for (s,) in db.execute("select status from contents"))


async def test_a_worker_killed_mid_publish_is_finished_by_another_exactly_once(backdrop, db):
    backdrop.sandbox.state.dedupe = False  # only our reconciliation prevents a second post
    # A read timeout the held call cannot reach before the kill; the lease just past it.
    patient = {"UPLOADER_READ_TIMEOUT_SECONDS": "10", "UPLOADER_LEASE_SECONDS": "11"}
    with held(backdrop.sandbox), uploader(backdrop, **patient) as first:
        profile_id = await make_profile(backdrop.allocator, slots=EVERY_TEN_MINUTES)
        content = await assign(backdrop.allocator, profile_id)
        await until(lambda: arrived(backdrop.sandbox))
        first.process.send_signal(signal.SIGKILL)  # mid-call: the answer never reaches it
        first.process.wait(timeout=10)
    # Released: the held request goes on and publishes, as a post whose sender died.
    await until(lambda: len(backdrop.sandbox.state.publications) == 1)
    row = db.execute("select status, lease_owner from contents").fetchone()
    assert row[0] == "uploading"
    assert row[1] is not None
    with uploader(backdrop):
        await until(lambda: states(db) == Counter({"uploaded": 1}), seconds=30)
    assert len(backdrop.sandbox.state.publications) == 1
    attempts = db.execute(
        "select kind, outcome from upload_attempts where content_id = %s order by number",
        (content.content_id,),
    ).fetchall()
    assert attempts == [("publish", "lost"), ("reconcile", "published")]


async def test_two_replicas_on_one_due_queue_publish_every_content_once(backdrop, db):
    backdrop.sandbox.state.queue_faults("tiktok", *["slow:0.1"] * 40)
    with ExitStack() as replicas:
        running = [
            replicas.enter_context(uploader(backdrop, UPLOADER_MAX_IN_FLIGHT="2")) for _ in range(2)
        ]
        # Eight accounts of five contents: an account takes one job at a time, so the queue is
        # shared between the replicas only across accounts.
        assignments = []
        for i in range(8):
            profile_id = await make_profile(
                backdrop.allocator, slots=EVERY_TEN_MINUTES, name=f"Shared{i}"
            )
            batch = await backdrop.allocator.BatchAssign(
                apb.BatchAssignRequest(
                    profile_id=profile_id,
                    platform=apb.PLATFORM_TIKTOK,
                    contents=[video() for _ in range(5)],
                )
            )
            assignments += batch.assignments
        await until(lambda: states(db) == Counter({"uploaded": 40}), seconds=60)
        logs = "".join(r.log.read_text() for r in running)
    assert KEY not in logs  # the API key never reaches a log
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    publishing = [e for e in lines if e["message"].startswith("publishing")]
    assert len(publishing) == 40
    assert {"content_id", "profile_id", "platform", "request_id", "worker"} <= set(publishing[0])
    published = Counter(p.request_id for p in backdrop.sandbox.state.publications)
    assert len(published) == 40
    assert set(published.values()) == {1}
    per_content = Counter(
        key.split(":")[1]
        for key in (p.idempotency_key for p in backdrop.sandbox.state.publications)
    )
    assert per_content == Counter({a.content_id: 1 for a in assignments})
    workers = db.execute("select count(distinct worker) from upload_attempts").fetchone()
    assert workers == (2,)  # both replicas did work


async def test_sigterm_lets_a_publish_in_flight_finish_and_leaves_no_lease(backdrop, db):
    # Timeouts and grace far beyond the hold: the call ends when the sandbox answers, and the
    # process when the call ends (its exit well inside the grace shows it did not wait it out).
    patient = {
        "UPLOADER_READ_TIMEOUT_SECONDS": "120",
        "UPLOADER_LEASE_SECONDS": "300",
        "SHUTDOWN_GRACE_SECONDS": "600",
    }
    with uploader(backdrop, **patient) as running:
        with held(backdrop.sandbox):
            profile_id = await make_profile(backdrop.allocator, slots=EVERY_TEN_MINUTES)
            await assign(backdrop.allocator, profile_id)
            await until(lambda: arrived(backdrop.sandbox))  # the publish is in flight
            running.process.send_signal(signal.SIGTERM)
            await until(lambda: stopping(running))
            assert backdrop.sandbox.state.publications == []  # still unanswered
        code = await asyncio.to_thread(running.process.wait, 60)
    assert code == 0
    assert db.execute("select status, lease_owner from contents").fetchone() == ("uploaded", None)
    kinds = db.execute("select kind, outcome from upload_attempts order by number").fetchall()
    assert kinds == [("publish", "published")]


async def test_sigterm_past_the_grace_hands_the_content_back_as_unknown_then_it_is_reconciled(
    backdrop, db
):
    backdrop.sandbox.state.dedupe = False
    patient = {"UPLOADER_READ_TIMEOUT_SECONDS": "120", "UPLOADER_LEASE_SECONDS": "300"}
    with (
        held(backdrop.sandbox),
        uploader(backdrop, SHUTDOWN_GRACE_SECONDS="0.2", **patient) as running,
    ):
        profile_id = await make_profile(backdrop.allocator, slots=EVERY_TEN_MINUTES)
        await assign(backdrop.allocator, profile_id)
        await until(lambda: arrived(backdrop.sandbox))  # in flight until released
        running.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(running.process.wait, 60) == 0
    # Released: the held request publishes after all, its sender gone.
    await until(lambda: len(backdrop.sandbox.state.publications) == 1)
    # Handed back at once: no lease waits to expire, and it is not blindly due again.
    assert db.execute("select status, lease_owner from contents").fetchone() == (
        "unknown_outcome",
        None,
    )
    with uploader(backdrop):
        await until(lambda: states(db) == Counter({"uploaded": 1}))
    assert len(backdrop.sandbox.state.publications) == 1
    kinds = db.execute("select kind, outcome from upload_attempts order by number").fetchall()
    assert kinds == [("publish", "interrupted"), ("reconcile", "published")]


async def test_two_replicas_together_stay_within_the_plans_rate(backdrop, db):
    # The sandbox enforces a plan of 10 requests a minute; two replicas are told the same. The
    # herd is larger than a minute's worth, so the budget must hold across the two processes.
    plan = 10
    backdrop.sandbox.state.meter = Meter(SandboxLimits(requests_per_minute=plan))
    with ExitStack() as replicas:
        for _ in range(2):
            replicas.enter_context(
                uploader(
                    backdrop,
                    UPLOAD_POST_REQUESTS_PER_MINUTE=str(plan),
                    UPLOADER_IDLE_SECONDS="0.2",
                )
            )
        profiles = [await make_profile(backdrop.allocator, name=f"p{i}") for i in range(6)]
        contents = [await assign(backdrop.allocator, p) for p in profiles for _ in range(2)]
        await until(lambda: states(db) == Counter({"uploaded": len(contents)}), seconds=150)
    log = backdrop.sandbox.state.log
    assert [entry for entry in log if entry.status == 429] == []
    times = sorted(entry.at for entry in log)  # every request the sandbox took
    busiest = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert busiest <= plan
    assert Counter(
        p.idempotency_key.split(":")[1] for p in backdrop.sandbox.state.publications
    ) == (Counter({c.content_id: 1 for c in contents}))
