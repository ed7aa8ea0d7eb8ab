"""WatchEvents on real servers: a replay then live, in cursor order; a watcher that disconnects
every few events and resumes with its last cursor, on another replica or on one restarted
meanwhile, sees every event exactly once; a stopping replica ends its streams UNAVAILABLE; bad
requests are refused naming the field."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import psycopg
import pytest
from google.rpc.error_details_pb2 import BadRequest
from prometheus_client import REGISTRY

from commands.dev import DevPorts
from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.events import Cursor, EventType
from queuelabs.logs import JsonFormatter
from queuelabs.platforms import Platform
from queuelabs.security import Security
from queuelabs.status import details_of, error_info
from queuelabs.uploader.v1 import uploader_pb2 as upb
from queuelabs.uploader.v1.uploader_pb2_grpc import UploaderStub
from tests.support.calls import assign, make_profile, stamp
from tests.support.pgbouncer import running_pgbouncer, through
from tests.support.polling import until
from tests.support.proxy import CuttableProxy
from tests.support.stack import KEY, Stack, production_policies, running_stack
from tests.test_readme import ROOT, grpcurl_dir
from uploader.convert import EVENT_DATA_FIELD, event_out
from uploader.domain import StoredEvent
from uploader.pacing import Limits
from uploader.server import RunningUploader, start_uploader
from uploader.settings import UploaderSettings

EVENT_ORDER = "select event_id::text from events order by xid, seq"


async def read(call: Any) -> upb.Event:
    """The stream's next event; a stream that ends is a failure here (it is endless)."""
    event = await call.read()
    assert event is not grpc.aio.EOF, "the stream ended"
    assert isinstance(event, upb.Event)
    return event


async def uploaded(stack: Stack, content_id: str) -> None:
    """Waits for UploadNow's publish; the clock stays put (tests/support/stack.settled would
    move it to the next slot once the content is done, making the others due)."""
    deadline = time.monotonic() + 60
    request = upb.GetUploadRequest(content_id=content_id)
    while (await stack.uploader.GetUpload(request)).state != upb.UPLOAD_STATE_UPLOADED:
        assert time.monotonic() < deadline, f"{content_id} was not published"
        await asyncio.sleep(0.02)  # real: the claimer publishes on its own time


def readable(db: psycopg.Connection[Any]) -> bool:
    """Whether a reader may pass every event committed so far: no transaction that began before
    them still runs anywhere on the server (a long one elsewhere holds every watcher back)."""
    row = db.execute(
        "select coalesce(max(xid) < pg_snapshot_xmin(pg_current_snapshot()), true) from events"
    ).fetchone()
    return bool(row and row[0])


def logged(db: psycopg.Connection[Any]) -> list[str]:
    """Every event id of the log, in cursor order."""
    return [row[0] for row in db.execute(EVENT_ORDER)]


@asynccontextmanager
async def watching(port: int, after: str = "", **filters: Any) -> AsyncIterator[Any]:
    """An open WatchEvents stream on the replica at `port`; cancelled on leaving."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = UploaderStub(channel).WatchEvents(
            upb.WatchEventsRequest(after_cursor=after, **filters)
        )
        try:
            yield call
        finally:
            call.cancel()


async def replica(stack: Stack, database_url: str, **overrides: Any) -> RunningUploader:
    """Another Uploader on the stack's database and Allocator (its clock: the stack's)."""
    settings = UploaderSettings(
        database_url=database_url,
        allocator_addr=f"127.0.0.1:{stack.allocator_server.port}",
        upload_post_api_key=KEY,
        upload_post_base_url=stack.sandbox.base_url,
        listen="127.0.0.1:0",
        pool_size=4,
        # As the stack's own: no pacing or lateness in the way, fake-time retry ladders.
        lease=timedelta(hours=1),
        idle=timedelta(seconds=0.05),
        max_lateness=timedelta(days=3650),
        policies=production_policies(),
        limits=Limits(100_000, 100_000),
    )
    return await start_uploader(replace(settings, **overrides), stack.clock)


def test_every_event_type_travels_in_a_member_of_the_event_message():
    members = {f.name for f in upb.Event.DESCRIPTOR.oneofs_by_name["data"].fields}
    assert set(EVENT_DATA_FIELD.values()) == members
    for event_type, member in EVENT_DATA_FIELD.items():
        assert event_type.value.replace(".", "_") == member


def stored(event_type: EventType, data: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        cursor=Cursor(7, 3),
        event_id=uuid.uuid4(),
        type=event_type,
        occurred_at=datetime(2026, 3, 26, 1, tzinfo=UTC),
        content_id=uuid.uuid4(),
        profile_id=uuid.uuid4(),
        platform=Platform.INSTAGRAM,
        data=data,
    )


def test_an_event_carries_its_envelope_and_its_fields_as_stored():
    event = stored(
        EventType.CONTENT_MOVED,
        {
            "from_scheduled_at": "2026-03-26T01:00:00+00:00",
            "to_scheduled_at": "2026-03-27T08:00:00+07:00",
            "slot_id": "s1",
            "reason": "missed",
            "added_later": 1,  # a field this build does not know yet is left out, not refused
        },
    )
    message = event_out(event)
    assert message.cursor == str(event.cursor)
    assert message.event_id == str(event.event_id)
    assert (message.type, message.platform) == ("content.moved", apb.PLATFORM_INSTAGRAM)
    assert message.occurred_at.ToDatetime(tzinfo=UTC) == event.occurred_at
    assert message.WhichOneof("data") == "content_moved"
    moved = message.content_moved
    assert moved.to_scheduled_at.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 27, 1, tzinfo=UTC)
    assert (moved.slot_id, moved.reason) == ("s1", "missed")


def test_an_event_with_no_fields_set_or_data_it_cannot_hold_still_names_its_member():
    assert event_out(stored(EventType.UPLOAD_CANCELLED, {})).WhichOneof("data") == (
        "upload_cancelled"
    )
    garbled = event_out(stored(EventType.UPLOAD_RETRYING, {"attempt": "many"}))
    assert garbled.WhichOneof("data") == "upload_retrying"
    assert garbled.upload_retrying.attempt == 0
    assert garbled.type == "upload.retrying"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (upb.WatchEventsRequest(after_cursor="12"), "after_cursor"),
        (upb.WatchEventsRequest(after_cursor="z" * 32), "after_cursor"),
        (upb.WatchEventsRequest(types=["upload.published", "upload.exploded"]), "types[1]"),
        (upb.WatchEventsRequest(profile_ids=["not-a-uuid"]), "profile_ids[0]"),
        (upb.WatchEventsRequest(platforms=[apb.PLATFORM_UNSPECIFIED]), "platforms[0]"),
        (upb.WatchEventsRequest(platforms=[99]), "platforms[0]"),  # type: ignore[list-item]
        (upb.WatchEventsRequest(profile_ids=[str(uuid.uuid4())] * 1001), "profile_ids"),
    ],
)
async def test_a_bad_watch_is_refused_naming_the_field(database_url, request_, field):
    async with running_stack(database_url) as stack:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stack.uploader.WatchEvents(request_):
                pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [bad] = [d for d in details_of(refused.value) if isinstance(d, BadRequest)]
    assert [v.field for v in bad.field_violations] == [field]


async def test_a_watch_replays_the_log_then_follows_it_live_with_its_filters(database_url, db):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        profile_id = await make_profile(stack.allocator)
        other = await make_profile(stack.allocator, name="Other")
        before = [await assign(stack.allocator, p) for p in (profile_id, other, profile_id)]
        port = stack.uploader_server.port
        async with (
            watching(port, "0") as everything,
            watching(port, "0", profile_ids=[profile_id], types=["content.released"]) as mine,
        ):
            replayed = [await read(everything) for _ in before]
            assert [e.content_id for e in replayed] == [a.content_id for a in before]
            assert {e.type for e in replayed} == {"content.assigned"}
            await stack.allocator.Release(
                apb.ReleaseRequest(content_id=before[1].content_id, reason="theirs")
            )
            await stack.allocator.Release(
                apb.ReleaseRequest(content_id=before[2].content_id, reason="ours")
            )
            live = [await read(everything), await read(everything)]
            assert [(e.type, e.content_id) for e in live] == [
                ("content.released", before[1].content_id),
                ("content.released", before[2].content_id),
            ]
            only = await read(mine)  # the other profile's release and every assignment pass
            assert (only.content_id, only.content_released.reason) == (
                before[2].content_id,
                "ours",
            )
            cursors = [e.cursor for e in replayed + live]
            assert cursors == sorted(cursors)
            assert len(set(cursors)) == len(cursors)
            assert [e.event_id for e in replayed + live] == logged(db)


async def test_a_watch_from_now_on_skips_the_past_and_misses_nothing_after(database_url, db):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:  # nothing falls due
        profile_id = await make_profile(stack.allocator)
        await assign(stack.allocator, profile_id)
        async with watching(stack.uploader_server.port) as live:
            await live.initial_metadata()  # the watch holds its place: what follows is told
            after = await assign(stack.allocator, profile_id)
            heard = await read(live)
    assert heard.content_id == after.content_id
    assert heard.event_id == logged(db)[-1]


async def test_a_watcher_that_drops_every_few_events_and_resumes_sees_each_once_in_order(
    database_url, db
):
    """Across two replicas it alternates between, one of them restarted midway, while the
    Allocator and the Uploader change contents."""
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        replicas = [await replica(stack, database_url), await replica(stack, database_url)]
        seen: list[upb.Event] = []
        drops: list[grpc.StatusCode] = []

        async def watcher() -> None:
            turn = 0
            while True:
                turn += 1
                port = replicas[turn % 2].port
                after = seen[-1].cursor if seen else "0"
                try:
                    async with watching(port, after) as call:
                        for _ in range(3):
                            seen.append(await read(call))
                except grpc.aio.AioRpcError as dropped:  # a replica stopped under it
                    drops.append(dropped.code())

        watching_task = asyncio.ensure_future(watcher())
        profile_id = await make_profile(stack.allocator)
        for round_ in range(6):
            moved, released, cancelled, published = [
                await assign(stack.allocator, profile_id) for _ in range(4)
            ]
            await stack.allocator.Reschedule(
                apb.RescheduleRequest(
                    content_id=moved.content_id,
                    not_before=stamp(
                        moved.scheduled_at.ToDatetime(tzinfo=UTC) + timedelta(hours=1)
                    ),
                    reason="moved by the test",
                )
            )
            await stack.allocator.Release(
                apb.ReleaseRequest(content_id=released.content_id, reason="released")
            )
            await stack.uploader.CancelUpload(
                upb.CancelUploadRequest(content_id=cancelled.content_id, reason="cancelled")
            )
            await stack.uploader.UploadNow(upb.UploadNowRequest(content_id=published.content_id))
            await uploaded(stack, published.content_id)
            if round_ == 2:  # the replica a watcher may be on goes away and comes back
                await replicas[0].stop(grace=1)
                replicas[0] = await replica(stack, database_url)
        expected = logged(db)
        await until(lambda: len(seen) >= len(expected), seconds=200)  # for a hang, or a long
        # transaction elsewhere on a shared server, which holds every watcher back meanwhile
        watching_task.cancel()
        await asyncio.gather(watching_task, return_exceptions=True)
        for running in replicas:
            await running.stop(grace=1)
    assert [e.event_id for e in seen] == expected
    assert set(drops) <= {grpc.StatusCode.UNAVAILABLE}
    assert {e.type for e in seen} >= {
        "content.assigned",
        "content.moved",
        "content.released",
        "upload.cancelled",
        "upload.published",
    }


async def test_a_stopping_replica_ends_its_streams_unavailable_to_be_resumed(database_url):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:  # nothing falls due
        other = await replica(stack, database_url)
        profile_id = await make_profile(stack.allocator)
        async with watching(other.port, "0") as call:
            await assign(stack.allocator, profile_id)
            await read(call)  # the stream is up and caught up
            await other.stop(grace=5)
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                await read(call)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(ended.value)
    assert info is not None
    assert info.reason == "SERVER_STOPPING"


async def test_a_watch_needs_a_known_token_where_tokens_are_set(database_url):
    tokens = Security(tokens={"ops": "tok-ops-watch-51c2"})
    async with running_stack(database_url, ahead=timedelta(0), security=tokens) as stack:
        profile_id = await make_profile(stack.allocator)
        assigned = await assign(stack.allocator, profile_id)
        request = upb.WatchEventsRequest(after_cursor="0")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.uploader_server.port}") as channel:
            stub = UploaderStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await read(stub.WatchEvents(request))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            call = stub.WatchEvents(
                request, metadata=(("authorization", "Bearer tok-ops-watch-51c2"),)
            )
            assert (await read(call)).content_id == assigned.content_id
            call.cancel()


def test_the_readmes_watch_call_is_one_the_guides_test_runs():
    readme = re.search(
        r"<!-- watch:.*?-->\n```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL
    )
    guide = re.search(
        r"<!-- watch-examples:.*?-->\n```bash\n(.*?)```",
        (ROOT / "docs" / "events.md").read_text(),
        re.DOTALL,
    )
    assert readme, "README.md lost its watch block"
    assert guide, "docs/events.md lost its watch-examples block"
    assert readme.group(1) in guide.group(1)


async def test_the_guides_grpcurl_watch_calls_work_as_written(database_url, db, tmp_path):
    page = (ROOT / "docs" / "events.md").read_text()
    found = re.search(r"<!-- watch-examples:.*?-->\n```bash\n(.*?)```", page, re.DOTALL)
    assert found, "docs/events.md lost its watch-examples block"
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        profile_id = await make_profile(stack.allocator)
        _, released = [await assign(stack.allocator, profile_id) for _ in range(2)]
        await stack.allocator.Release(apb.ReleaseRequest(content_id=released.content_id))
        await until(lambda: readable(db))  # so the watches' fixed time is grpcurl's alone
        script = found.group(1).replace(
            f"127.0.0.1:{DevPorts().uploader}", f"127.0.0.1:{stack.uploader_server.port}"
        )
        # The guide's 3 s suits a person; on a loaded machine grpcurl may take longer than that
        # to start and reflect, and only what the watches print is asserted.
        script = script.replace("-max-time 3", "-max-time 15")
        env = {**os.environ, "PATH": f"{grpcurl_dir()}{os.pathsep}{os.environ['PATH']}"}
        # Not -e: a watch ended by -max-time exits non-zero, as the guide says.
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-uo",
            "pipefail",
            "-c",
            script,
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(shell.communicate(), timeout=120)
    text = out.decode()
    assert shell.returncode == 0, f"{text}\n{err.decode()}"  # the listing, the last call
    assert text.count('"type": "content.assigned"') == 2
    assert text.count('"type": "content.released"') == 1
    assert text.count('"cursor"') == 3  # the resumed watch repeats none of them
    assert "DeadlineExceeded" in err.decode()


async def test_watching_works_behind_pgbouncer_in_transaction_mode(databases, database_url, db):
    """Every read is one transaction, which PgBouncer may run on any server connection."""
    with running_pgbouncer(databases.url("postgres")) as bouncer:
        bounced = through(bouncer, database_url)
        async with running_stack(bounced, ahead=timedelta(0)) as stack:
            profile_id = await make_profile(stack.allocator)
            for _ in range(3):
                await assign(stack.allocator, profile_id)
            seen: list[upb.Event] = []
            async with watching(stack.uploader_server.port, "0") as call:
                seen += [await read(call) for _ in range(3)]  # the replay
                for _ in range(3):
                    await assign(stack.allocator, profile_id)
                    seen.append(await read(call))  # live
            async with watching(stack.uploader_server.port, seen[-1].cursor) as call:
                await assign(stack.allocator, profile_id)
                seen.append(await read(call))  # resumed
    assert [e.event_id for e in seen] == logged(db)


async def test_a_watch_outlives_the_database_going_away_and_goes_on_when_it_is_back(
    database_url, caplog
):
    proxy = CuttableProxy(database_url)
    proxied = await proxy.start()
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        behind = await replica(stack, proxied, db_timeout=1.0)  # only this one loses it
        profile_id = await make_profile(stack.allocator)
        try:
            async with watching(behind.port, "0") as call:
                first = await assign(stack.allocator, profile_id)
                assert (await read(call)).content_id == first.content_id
                await proxy.cut()
                await until(lambda: "watchers wait until it is back" in caplog.text)
                meanwhile = await assign(stack.allocator, profile_id)
                proxy.mend()
                assert (await read(call)).content_id == meanwhile.content_id
        finally:
            proxy.mend()
            await behind.stop(grace=1)
            await proxy.stop()


def watch_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    lines = [
        json.loads(formatter.format(r)) for r in caplog.records if r.name == "queuelabs.access"
    ]
    return [line for line in lines if line["method"] == "WatchEvents"]


def streams_ended(code: str) -> float:
    labels = {
        "grpc_type": "server_stream",
        "grpc_service": "queuelabs.uploader.v1.Uploader",
        "grpc_method": "WatchEvents",
        "grpc_code": code,
    }
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


async def test_each_watch_gets_its_access_line_and_is_counted_when_it_ends(database_url, caplog):
    caplog.set_level(logging.INFO, logger="queuelabs.access")
    cancelled_before = streams_ended("CANCELLED")
    token = "tok-ops-lines-9e0d"
    as_ops = (("authorization", f"Bearer {token}"),)
    tokens = Security(tokens={"ops": token})
    async with running_stack(database_url, ahead=timedelta(0), security=tokens) as stack:
        profile_id = await make_profile(stack.allocator)
        await assign(stack.allocator, profile_id)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.uploader_server.port}") as channel:
            stub = UploaderStub(channel)
            with pytest.raises(grpc.aio.AioRpcError):
                await read(
                    stub.WatchEvents(upb.WatchEventsRequest(after_cursor="x"), metadata=as_ops)
                )
            call = stub.WatchEvents(
                upb.WatchEventsRequest(after_cursor="0", profile_ids=[profile_id]), metadata=as_ops
            )
            await read(call)
            call.cancel()  # the client goes away: the server's line says so when it sees it
            await until(lambda: len(watch_lines(caplog)) == 2)
    refused, ended = watch_lines(caplog)
    assert (refused["code"], refused["reason"], refused["caller"]) == (
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "ops",
    )
    assert (ended["code"], ended["caller"]) == ("CANCELLED", "ops")
    assert str(ended["message"]).startswith("WatchEvents CANCELLED in ")
    assert token not in json.dumps([refused, ended])
    assert streams_ended("CANCELLED") == cancelled_before + 1
