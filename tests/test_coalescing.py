"""Serving a key's waiting requests together (allocator/coalescing.py, AllocatorService): each
request answered exactly as if it came alone, in arrival order, within the group limit, and a
group that fails answers everyone and writes nothing.

The service tests run one group at a time and hold it up (a request for another profile whose
stripe lock the test holds), so the requests they send all wait and form the next group: what
forms a group is decided by the test, not by timing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from allocator.coalescing import Coalescer, Waiting
from allocator.domain import Assignment, ContentSpec, Profile, SlotSpec
from allocator.errors import ContentIdInUse, InvalidArgument, NoSchedule
from allocator.service import INDEX_REFUSED, AllocationPolicy, AllocatorService
from allocator.storage import AllocatorStore
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.audit import audit
from queuelabs.clock import FakeClock
from queuelabs.database import open_pool
from queuelabs.errors import Conflict, DatabaseUnavailable
from queuelabs.platforms import MediaType, Platform
from tests.support.calls import video
from tests.support.processes import allocator_processes

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
FREE_OF = "select count(*) from free_slots where profile_id = %s"
EVERY_HOUR = [SlotSpec(time(h, 0), frozenset()) for h in range(24)]
REFUSALS = "queuelabs_assignment_index_refusals_total"


# The coalescer alone


class Recorder:
    """A `serve` that records each group and waits for the test to let a group finish."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = asyncio.Event()

    async def serve(self, group: Sequence[Waiting[str, str]]) -> None:
        self.groups.append([w.request for w in group])
        await self.release.wait()
        for waiting in group:
            waiting.answer_with(f"served {waiting.request}")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)  # no time passes: the loop runs what is ready


async def test_requests_waiting_for_a_busy_key_form_the_next_group_in_arrival_order():
    recorder = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(recorder.serve, group_limit=100, groups_in_flight=2)
    first = asyncio.create_task(coalescer.submit("A", 1, "a1"))
    await settle()
    waiting = [asyncio.create_task(coalescer.submit("A", 1, f"a{i}")) for i in range(2, 6)]
    other = asyncio.create_task(coalescer.submit("B", 1, "b1"))
    await settle()
    # A is busy: its requests wait; B's goes out at once in a group of its own.
    assert recorder.groups == [["a1"], ["b1"]]
    recorder.release.set()
    answers = await asyncio.gather(first, *waiting, other)
    assert recorder.groups == [["a1"], ["b1"], ["a2", "a3", "a4", "a5"]]
    assert answers == ["served a1", "served a2", "served a3", "served a4", "served a5", "served b1"]


async def test_a_group_holds_at_most_its_limit_and_a_larger_request_goes_alone():
    recorder = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(recorder.serve, group_limit=3, groups_in_flight=1)
    sizes = {"r0": 1, "r1": 2, "r2": 1, "r3": 5, "r4": 1, "r5": 1}
    tasks = []
    for name, size in sizes.items():
        tasks.append(asyncio.create_task(coalescer.submit("A", size, name)))
        await settle()
    recorder.release.set()
    await asyncio.gather(*tasks)
    assert recorder.groups == [["r0"], ["r1", "r2"], ["r3"], ["r4", "r5"]]
    for group in recorder.groups:
        assert sum(sizes[r] for r in group) <= 3 or len(group) == 1


async def test_a_group_that_fails_gives_every_member_its_error():
    release = asyncio.Event()

    async def failing(group: Sequence[Waiting[str, str]]) -> None:
        await release.wait()
        group[0].answer_with("answered before the failure")
        raise DatabaseUnavailable("the database is unreachable; retry")

    coalescer: Coalescer[str, str] = Coalescer(failing, group_limit=10, groups_in_flight=1)
    first = asyncio.create_task(coalescer.submit("A", 1, "r0"))
    await settle()
    rest = [asyncio.create_task(coalescer.submit("A", 1, f"r{i}")) for i in range(1, 4)]
    await settle()
    release.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    # two groups, [r0] and [r1, r2, r3]: each answered its first member, then failed
    assert results[:2] == ["answered before the failure"] * 2
    assert all(isinstance(r, DatabaseUnavailable) for r in results[2:])


async def test_a_caller_that_gives_up_while_waiting_leaves_the_queue():
    recorder = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(recorder.serve, group_limit=10, groups_in_flight=1)
    first = asyncio.create_task(coalescer.submit("A", 1, "a1"))
    await settle()
    gone = asyncio.create_task(coalescer.submit("A", 1, "gone"))
    stays = asyncio.create_task(coalescer.submit("A", 1, "stays"))
    await settle()
    gone.cancel()
    recorder.release.set()
    assert await first == "served a1"
    assert await stays == "served stays"
    assert recorder.groups == [["a1"], ["stays"]]


# The service on a real PostgreSQL


class Groups:
    """Records the requests of each group the service places."""

    def __init__(self, service: AllocatorService) -> None:
        self.sizes: list[int] = []
        place = service._place_group

        async def recording(asks: Sequence[Any], clean: bool) -> Any:
            self.sizes.append(len(asks))
            return await place(asks, clean)

        service._place_group = recording  # type: ignore[method-assign]


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[AllocatorService]:
    pool = await open_pool(database_url, 4, 5)
    try:
        yield in_groups_one_at_a_time(pool)
    finally:
        await pool.close()


def in_groups_one_at_a_time(pool: Any, **policy: Any) -> AllocatorService:
    return AllocatorService(
        AllocatorStore(pool),
        FakeClock(T0),
        AllocationPolicy(groups_in_flight=1, daily_caps={}, **policy),
    )


async def profile_with_hourly_slots(service: AllocatorService) -> uuid.UUID:
    profile = Profile(uuid.uuid4(), "Hourly", "hourly", "UTC")
    await service.upsert_profile(profile)
    await service.set_schedule(profile.profile_id, Platform.TIKTOK, EVERY_HOUR)
    return profile.profile_id


def clip(title: str = "a clip") -> ContentSpec:
    return ContentSpec(uuid.uuid4(), MediaType.VIDEO, "https://cdn.example.com/a.mp4", title)


async def queued_together(
    service: AllocatorService, calls: Sequence[Callable[[], Coroutine[Any, Any, Any]]]
) -> list[Any]:
    """Starts `calls` in order while the service's one group in flight is held up (a request
    for another profile, whose stripe lock the test holds), so they all wait; then lets them go
    and returns each one's answer or error."""
    blocker = await profile_with_hourly_slots(service)
    async with service._stripes.of(blocker, Platform.TIKTOK):
        lead = asyncio.create_task(service.assign_next(blocker, Platform.TIKTOK, clip(), None))
        await settle()
        tasks: list[asyncio.Task[Any]] = []
        for call in calls:
            tasks.append(asyncio.create_task(call()))
            await settle()
    await asyncio.gather(lead, return_exceptions=True)
    return await asyncio.gather(*tasks, return_exceptions=True)


def hour(n: int) -> datetime:
    """The n-th hourly slot after T0 plus the lead time (01:00 is the first)."""
    return T0 + timedelta(hours=n)


async def test_a_group_answers_each_request_as_if_it_came_alone(service, db):
    profile_id = await profile_with_hourly_slots(service)
    earlier = clip()
    held = await service.assign_next(profile_id, Platform.TIKTOK, earlier, None)
    assert held.scheduled_at == hour(1)
    first, second, in_batch = clip(), clip(), [clip(), clip()]
    reused_in_batch = [
        clip(),
        ContentSpec(earlier.content_id, MediaType.VIDEO, "https://x.example/b.mp4"),
    ]
    no_schedule = Profile(uuid.uuid4(), "NoSlots", "noslots", "UTC")
    await service.upsert_profile(no_schedule)
    groups = Groups(service)

    def assign(content: ContentSpec, profile: uuid.UUID = profile_id) -> Callable[[], Any]:
        return lambda: service.assign_next(profile, Platform.TIKTOK, content, None)

    def batch(contents: list[ContentSpec]) -> Callable[[], Any]:
        return lambda: service.batch_assign(profile_id, Platform.TIKTOK, contents, None)

    answers = await queued_together(
        service,
        [
            assign(first),
            assign(earlier),  # a retry of an earlier request: its slot again
            assign(ContentSpec(earlier.content_id, MediaType.VIDEO, "https://x.example/b.mp4")),
            batch(reused_in_batch),  # all or nothing: refused whole
            lambda: service.assign_next(
                profile_id, Platform.TIKTOK, clip(), T0 + timedelta(days=400)
            ),  # bad input: refused before it waits
            assign(first),  # a retry within the same group
            assign(ContentSpec(first.content_id, MediaType.PHOTO, "https://x.example/c.jpg")),
            batch(in_batch),
            assign(second),
        ],
    )
    assert groups.sizes == [1, 8]  # the one holding things up, then all but the bad one
    assert answers[0].scheduled_at == hour(2)
    assert answers[1] == held
    assert isinstance(answers[2], ContentIdInUse)
    assert isinstance(answers[3], ContentIdInUse)
    assert isinstance(answers[4], InvalidArgument)
    assert answers[5] == answers[0]
    assert isinstance(answers[6], ContentIdInUse)
    assert [a.scheduled_at for a in answers[7]] == [hour(3), hour(4)]  # consecutive
    assert answers[8].scheduled_at == hour(5)  # the refused ones took nothing
    stored = dict(
        db.execute(
            "select content_id, scheduled_at from contents where profile_id = %s", (profile_id,)
        ).fetchall()
    )
    assert stored == {
        earlier.content_id: hour(1),
        first.content_id: hour(2),
        in_batch[0].content_id: hour(3),
        in_batch[1].content_id: hour(4),
        second.content_id: hour(5),
    }
    # A key that cannot take contents refuses its own requests only.
    third = clip()
    mixed = await queued_together(service, [assign(clip(), no_schedule.profile_id), assign(third)])
    assert isinstance(mixed[0], NoSchedule)
    assert (mixed[1].content_id, mixed[1].scheduled_at) == (third.content_id, hour(6))


async def test_requests_of_one_replica_get_slots_in_the_order_they_arrived(service):
    profile_id = await profile_with_hourly_slots(service)
    contents = [clip() for _ in range(30)]

    def assign(content: ContentSpec) -> Callable[[], Coroutine[Any, Any, Assignment]]:
        return lambda: service.assign_next(profile_id, Platform.TIKTOK, content, None)

    answers = await queued_together(service, [assign(c) for c in contents])
    assert [a.content_id for a in answers] == [c.content_id for c in contents]
    assert [a.scheduled_at for a in answers] == [hour(n) for n in range(1, 31)]


async def test_a_group_never_holds_more_contents_than_its_limit(database_url):
    pool = await open_pool(database_url, 4, 5)
    try:
        service = in_groups_one_at_a_time(pool, group_limit=4)
        profile_id = await profile_with_hourly_slots(service)
        groups = Groups(service)
        calls: list[Callable[[], Coroutine[Any, Any, Any]]] = [
            lambda: service.assign_next(profile_id, Platform.TIKTOK, clip(), None)
            for _ in range(10)
        ]
        six = [clip() for _ in range(6)]
        calls.append(lambda: service.batch_assign(profile_id, Platform.TIKTOK, six, None))
        answers = await queued_together(service, calls)
    finally:
        await pool.close()
    assert not [a for a in answers if isinstance(a, BaseException)]
    # the one holding things up; ten single ones by four; the batch of six alone
    assert groups.sizes == [1, 4, 4, 2, 1]
    slots = [a.scheduled_at for a in answers[:10]] + [a.scheduled_at for a in answers[10]]
    assert slots == [hour(n) for n in range(1, 17)]


@pytest.mark.parametrize(
    ("sqlstate", "refusal"),
    [("40P01", Conflict), ("40001", Conflict), ("08006", DatabaseUnavailable)],
    ids=["deadlock", "serialization", "connection failure"],
)
async def test_a_database_failure_mid_group_writes_nothing_and_answers_every_member(
    service, db, sqlstate, refusal
):
    profile_id = await profile_with_hourly_slots(service)
    free_before = db.execute(FREE_OF, (profile_id,)).fetchone()
    # The group's last statement (the insert) fails inside PostgreSQL, after its slots are taken.
    db.execute(f"""
        create function fail_insert() returns trigger language plpgsql as $$
        begin raise exception 'planted failure' using errcode = '{sqlstate}'; end $$;
        create trigger fail_insert before insert on contents
            for each statement execute function fail_insert();
    """)
    groups = Groups(service)
    answers = await queued_together(
        service,
        [lambda: service.assign_next(profile_id, Platform.TIKTOK, clip(), None) for _ in range(5)]
        + [lambda: service.batch_assign(profile_id, Platform.TIKTOK, [clip(), clip()], None)],
    )
    assert groups.sizes == [1, 6]
    assert all(isinstance(a, refusal) for a in answers), answers
    assert db.execute("select count(*) from contents").fetchone() == (0,)
    assert db.execute(FREE_OF, (profile_id,)).fetchone() == free_before
    db.execute("drop trigger fail_insert on contents")
    after = await service.assign_next(profile_id, Platform.TIKTOK, clip(), None)
    assert after.scheduled_at == hour(1)  # nothing of the failed group was kept


async def test_a_slot_the_unique_index_refuses_is_counted_and_the_group_placed_again(
    service, db, caplog
):
    profile_id = await profile_with_hourly_slots(service)
    first = await service.assign_next(profile_id, Platform.TIKTOK, clip(), None)
    # An inventory that lost track (the locks make that impossible): it offers again the instant
    # the first content holds.
    db.execute(
        "insert into free_slots (profile_id, platform, scheduled_at, slot_id)"
        " values (%s, 'tiktok', %s, %s)",
        (profile_id, first.scheduled_at, first.slot_id),
    )
    before = REGISTRY.get_sample_value(REFUSALS) or 0.0
    second = await service.assign_next(profile_id, Platform.TIKTOK, clip(), None)
    assert second.scheduled_at == hour(2)  # placed again, on an inventory cleaned first
    assert REGISTRY.get_sample_value(REFUSALS) == before + 1
    assert INDEX_REFUSED in caplog.text
    held = db.execute(FREE_OF + " and scheduled_at = %s", (profile_id, first.scheduled_at))
    assert held.fetchone() == (0,)  # the instant held is gone from the inventory


def test_a_replica_killed_mid_burst_keeps_every_acknowledged_assignment(database_url, db):
    """Two replicas serve 600 AssignNext for one key, 60 in flight; once 100 are acknowledged one
    replica is SIGKILLed. Every acknowledged content holds the slot it was told, none shares a
    slot, and the survivor serves the rest."""
    with allocator_processes(database_url, 2) as replicas:
        addresses = [replica.address for replica in replicas]
        profile_id = str(uuid.uuid4())
        with grpc.insecure_channel(addresses[0]) as channel:
            stub = AllocatorStub(channel)
            stub.UpsertProfile(
                pb.UpsertProfileRequest(
                    profile_id=profile_id, name="Burst", upload_post_user="burst", timezone="UTC"
                )
            )
            stub.SetSchedule(
                pb.SetScheduleRequest(
                    profile_id=profile_id,
                    platform=pb.PLATFORM_LINKEDIN,
                    slots=[
                        pb.Slot(local_time=f"{h:02d}:{m:02d}") for h in range(24) for m in (0, 30)
                    ],
                )
            )
        victim = replicas[0].process.pid
        acknowledged, failed, killed_after = asyncio.run(
            _burst_with_a_kill(addresses, profile_id, victim, total=600, kill_after=100)
        )
    assert killed_after >= 100
    assert len(acknowledged) > killed_after  # the survivor went on serving
    assert failed, "the kill landed after the burst: nothing was in flight on the victim"
    assert set(failed) == {"UNAVAILABLE"}
    stored = {
        str(content_id): at
        for content_id, at in db.execute(
            "select content_id, scheduled_at from contents where status = 'scheduled'"
        ).fetchall()
    }
    moved = [c for c, at in acknowledged.items() if stored.get(c) != at]
    assert moved == []
    # And the auditor finds the data whole: no stacked slot, an inventory that agrees.
    assert audit(database_url, datetime.now(UTC), timedelta(minutes=10)) == []
    assert db.execute(
        "select count(*) from (select 1 from contents where status = 'scheduled'"
        " group by scheduled_at having count(*) > 1) s"
    ).fetchone() == (0,)


async def _burst_with_a_kill(
    addresses: list[str], profile_id: str, victim: int, total: int, kill_after: int
) -> tuple[dict[str, datetime], list[str], int]:
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    stubs = [AllocatorStub(c) for c in channels]
    acknowledged: dict[str, datetime] = {}
    failed: list[str] = []
    killed_after = 0
    queue = iter(range(total))

    async def worker() -> None:
        nonlocal killed_after
        for i in queue:
            content = video()
            content.ClearField("platform_options")  # privacy_level is TikTok's, not LinkedIn's
            try:
                got = await stubs[i % 2].AssignNext(
                    pb.AssignNextRequest(
                        profile_id=profile_id, platform=pb.PLATFORM_LINKEDIN, content=content
                    ),
                    timeout=30,
                )
            except grpc.aio.AioRpcError as refused:
                failed.append(f"{refused.code().name}")  # checked by the caller
                continue
            acknowledged[content.content_id] = got.scheduled_at.ToDatetime(tzinfo=UTC)
            if len(acknowledged) == kill_after:
                killed_after = len(acknowledged)
                os.kill(victim, signal.SIGKILL)

    try:
        await asyncio.gather(*(worker() for _ in range(60)))
    finally:
        for channel in channels:
            await channel.close()
    return acknowledged, failed, killed_after
