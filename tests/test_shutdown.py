"""SIGTERM on a busy Allocator: calls in flight finish, new ones are refused, exit code 0."""

from __future__ import annotations

import asyncio
import json
import signal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from tests.support.calls import make_profile, video
from tests.support.processes import service_process


async def test_sigterm_mid_burst_finishes_what_started_and_loses_nothing(database_url, db):
    with service_process(
        "allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url, SHUTDOWN_GRACE_SECONDS="10"
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
                        timeout=20,
                    )
                    return "OK"
                except grpc.aio.AioRpcError as failed:
                    return failed.code().name

            calls = [asyncio.create_task(one()) for _ in range(300)]
            for _, finished in zip(range(20), asyncio.as_completed(calls), strict=False):
                await finished  # twenty answered: the rest are in flight or queued
            running.process.send_signal(signal.SIGTERM)
            outcomes = await asyncio.gather(*calls)
            code = await asyncio.to_thread(running.process.wait, 20)
        served = [
            json.loads(line)["message"]
            for line in running.log.read_text().splitlines()
            if line.startswith("{") and "AssignNext" in line
        ]
    assert code == 0
    # Calls that had not reached a handler are refused (gRPC says CANCELLED or UNAVAILABLE);
    # every call that had reached one finished, and the server logged it as OK.
    assert set(outcomes) <= {"OK", "CANCELLED", "UNAVAILABLE"}
    assert outcomes.count("OK") >= 20
    assert [m.split(" ")[1] for m in served] == ["OK"] * outcomes.count("OK")
    (stored,) = db.execute("select count(*) from contents").fetchone()
    assert stored == outcomes.count("OK")  # every success is stored; nothing half-done


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
