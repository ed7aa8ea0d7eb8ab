"""SIGTERM on a busy Allocator: calls in flight finish, new ones are refused, exit code 0."""

from __future__ import annotations

import asyncio
import json
import signal
from uuid import UUID

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from allocator.storage import advisory_key
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.platforms import Platform
from tests.support.calls import make_profile, video
from tests.support.polling import until
from tests.support.processes import service_process


async def test_sigterm_mid_burst_finishes_what_started_and_loses_nothing(database_url, db):
    # A long grace: the drain ends when the calls in flight end, not when a clock runs out, so
    # a slow machine cannot turn a finished call into a cancelled one.
    with service_process(
        "allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url, SHUTDOWN_GRACE_SECONDS="300"
    ) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = AllocatorStub(channel)
            profile_id = await make_profile(stub)

            async def one() -> str:
                try:
                    await stub.AssignNext(
                        pb.AssignNextRequest(
                            profile_id=profile_id, platform=pb.PLATFORM_TIKTOK, content=video()
                        ),
                        timeout=120,
                    )
                    return "OK"
                except grpc.aio.AioRpcError as failed:
                    return failed.code().name

            # The test holds the key's advisory lock, so the burst's calls stop inside the
            # server, mid-transaction, until it lets go: provably in flight when SIGTERM lands.
            key = advisory_key(UUID(profile_id), Platform.TIKTOK)
            with psycopg.connect(database_url, autocommit=True) as holder:
                holder.execute("select pg_advisory_lock(%s)", (key,))
                calls = [asyncio.create_task(one()) for _ in range(300)]
                await until(lambda: waiting_for_advisory_locks(db) >= 1)
                running.process.send_signal(signal.SIGTERM)
                await until(lambda: "stopping: no new calls" in running.log.read_text())
                # None has gone through the held lock; some not yet begun may be turned away.
                early = [call.result() for call in calls if call.done()]
                assert "OK" not in early
                refused = await one()  # the server is draining: a new call is turned away
                holder.execute("select pg_advisory_unlock(%s)", (key,))
            outcomes = await asyncio.gather(*calls)
            code = await asyncio.to_thread(running.process.wait, 60)
        served = [
            json.loads(line)["message"]
            for line in running.log.read_text().splitlines()
            if line.startswith("{") and "AssignNext" in line
        ]
    assert code == 0
    assert refused in {"CANCELLED", "UNAVAILABLE"}
    # Calls that had not reached a handler are refused (gRPC says CANCELLED or UNAVAILABLE);
    # every call that had reached one finished, the one held mid-transaction included, and
    # the server logged each as OK.
    assert set(outcomes) <= {"OK", "CANCELLED", "UNAVAILABLE"}
    assert outcomes.count("OK") >= 1
    assert [m.split(" ")[1] for m in served] == ["OK"] * outcomes.count("OK")
    (stored,) = db.execute("select count(*) from contents").fetchone()
    assert stored == outcomes.count("OK")  # every success is stored; nothing half-done


def waiting_for_advisory_locks(db: psycopg.Connection[tuple[object, ...]]) -> int:
    """Sessions of this test's database waiting for an advisory lock (the server's, here)."""
    row = db.execute(
        "select count(*) from pg_locks where locktype = 'advisory' and not granted"
        " and database = (select oid from pg_database where datname = current_database())"
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


async def test_sigterm_turns_health_to_not_serving_for_watchers(database_url):
    with service_process(
        "allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url, SHUTDOWN_GRACE_SECONDS="5"
    ) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="queuelabs.allocator.v1.Allocator")
            )
            seen = [(await watch.read()).status]
            running.process.send_signal(signal.SIGTERM)
            try:
                while True:
                    reply = await asyncio.wait_for(watch.read(), timeout=10)
                    if reply is grpc.aio.EOF:
                        break
                    seen.append(reply.status)
            except grpc.aio.AioRpcError:
                pass  # the server closed the stream as it went away
            code = await asyncio.to_thread(running.process.wait, 20)
    assert seen[0] == health_pb2.HealthCheckResponse.SERVING
    assert health_pb2.HealthCheckResponse.NOT_SERVING in seen[1:]
    assert code == 0
