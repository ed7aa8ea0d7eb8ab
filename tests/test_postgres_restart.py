"""PostgreSQL stopped for 5 s under load and started again, under an Allocator and an Uploader
running as real processes: both keep running and recover by themselves. While it is down every
call answers UNAVAILABLE and health says NOT_SERVING; after it, nothing acknowledged is lost and
the Uploader publishes every due content, each once (from the sandbox's own record).

The server is the test's own (tests/support/restartable.py): the one the other tests share
keeps running."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.database import migrate
from queuelabs.uploader.v1 import uploader_pb2 as upb
from queuelabs.uploader.v1.uploader_pb2_grpc import UploaderStub
from sandbox.server import start_sandbox
from tests.support.calls import count_uploaded, due_contents, video
from tests.support.processes import ServiceProcess, service_process
from tests.support.restartable import RestartablePostgres
from tests.support.stack import KEY

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DUE = 30  # contents falling due one after another across the outage
OUTAGE = 5.0  # seconds
PATIENCE = 120  # seconds a recovery may take on a slow machine before the test fails


@pytest.fixture
def own_server() -> Iterator[tuple[RestartablePostgres, str]]:
    # Not under pytest's tmp_path: the server runs as another user, who may enter the folders
    # above its data only while they are open to it, and any pytest starting meanwhile on this
    # machine closes its temporary root to its owner (0700) again (seen: "Permission denied" on
    # the restart).
    scratch = Path(tempfile.mkdtemp(prefix="queuelabs-restart-"))
    server = RestartablePostgres(scratch / "pg")
    url = server.start()
    try:
        migrate(url)
        yield server, url
    finally:
        server.close()
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class Seen:
    """Every answer the load got, by phase (up, down, back) and by what was called."""

    codes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    acknowledged: dict[str, datetime] = field(default_factory=dict)  # content -> slot told

    def add(self, phase: str, what: str, code: str) -> None:
        self.codes.setdefault((phase, what), []).append(code)

    def of(self, phase: str, what: str) -> set[str]:
        return set(self.codes.get((phase, what), []))


async def test_both_services_ride_out_a_postgresql_restart_and_publish_each_due_content_once(
    own_server,
):
    server, url = own_server
    sandbox = await start_sandbox("127.0.0.1", 0, KEY, async_seconds=0.2)
    common = {"DATABASE_URL": url, "LOG_LEVEL": "INFO"}
    try:
        with (
            service_process(
                "allocator",
                "ALLOCATOR_LISTEN",
                **common,
                ALLOCATOR_DB_TIMEOUT_SECONDS="2",
                UPLOAD_POST_DAILY_CAP_TIKTOK="10000",  # a slot every ten minutes
            ) as allocator,
            service_process(
                "uploader",
                "UPLOADER_LISTEN",
                **common,
                ALLOCATOR_ADDR=allocator.address,
                UPLOAD_POST_BASE_URL=sandbox.base_url,
                UPLOAD_POST_API_KEY=KEY,
                UPLOADER_DB_TIMEOUT_SECONDS="2",
                UPLOADER_LEASE_SECONDS="4",
                UPLOADER_READ_TIMEOUT_SECONDS="3",
                UPLOADER_RETRY_SCALE="0.01",
                UPLOADER_IDLE_SECONDS="0.05",
                UPLOAD_POST_REQUESTS_PER_MINUTE="100000",
                UPLOAD_POST_POSTS_PER_MINUTE_PER_PROFILE="100000",
            ) as uploader,
        ):
            await _ride_out(server, url, allocator, uploader)
            publications = [p.idempotency_key for p in sandbox.state.publications]
            assert allocator.process.poll() is None, "the Allocator kept running"
            assert uploader.process.poll() is None, "the Uploader kept running"
    finally:
        await sandbox.stop()
    with psycopg.connect(url) as conn:
        uploaded = {
            str(cid)
            for (cid,) in conn.execute("select content_id from contents where status = 'uploaded'")
        }
    per_content = [key.split(":")[1] for key in publications]
    assert sorted(per_content) == sorted(uploaded), "each uploaded content published once"


async def _ride_out(
    server: RestartablePostgres, url: str, allocator: ServiceProcess, uploader: ServiceProcess
) -> None:
    async with (
        grpc.aio.insecure_channel(allocator.address) as to_allocator,
        grpc.aio.insecure_channel(uploader.address) as to_uploader,
    ):
        allocate = AllocatorStub(to_allocator)
        upload = UploaderStub(to_uploader)
        health = {
            "allocator": health_pb2_grpc.HealthStub(to_allocator),
            "uploader": health_pb2_grpc.HealthStub(to_uploader),
        }
        profile_id, due = await due_contents(allocate, url, DUE, first="2 s", spacing="300 ms")
        seen = Seen()
        phase = ["up"]
        stop_load = asyncio.Event()

        async def answer(what: str, call: Awaitable[Any]) -> Any:
            """Records the call's code under the phase it began and ended in (`between` when
            the phase changed under it); returns its reply, or None."""
            began = phase[0]
            try:
                reply = await call
                code = (
                    health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                    if what.startswith("health")
                    else "OK"
                )
            except grpc.aio.AioRpcError as failed:
                reply, code = None, failed.code().name
            seen.add(began if phase[0] == began else "between", what, code)
            return reply

        async def load() -> None:
            """AssignNext, GetUpload and both health checks, ten times a second."""
            while not stop_load.is_set():
                content = video()
                request = apb.AssignNextRequest(
                    profile_id=profile_id, platform=apb.PLATFORM_TIKTOK, content=content
                )
                got = await answer("AssignNext", allocate.AssignNext(request, timeout=5))
                if got is not None:
                    seen.acknowledged[content.content_id] = got.scheduled_at.ToDatetime(UTC)
                await answer(
                    "GetUpload",
                    upload.GetUpload(upb.GetUploadRequest(content_id=due[0]), timeout=5),
                )
                for name, stub in health.items():
                    await answer(
                        f"health {name}", stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                    )
                await asyncio.sleep(0.1)  # real: a steady load on real servers

        running = asyncio.create_task(load())
        await asyncio.sleep(2)  # real: the load runs on real servers before the outage
        phase[0] = "stopping"
        await asyncio.to_thread(server.stop)
        phase[0] = "down"
        await asyncio.sleep(OUTAGE)  # real: a real PostgreSQL stays down this long
        phase[0] = "starting"
        await asyncio.to_thread(server.start_again)
        phase[0] = "back"
        back = time.monotonic()
        deadline = back + PATIENCE
        while not all(
            {"OK", "SERVING"} & seen.of("back", what)
            for what in ("AssignNext", "GetUpload", "health allocator", "health uploader")
        ):
            assert time.monotonic() < deadline, f"not recovered within {PATIENCE} s: {seen.codes}"
            await asyncio.sleep(0.2)  # real: polls real servers as they recover
        recovered = time.monotonic() - back
        stop_load.set()
        await running
        print({f"{phase} {what}": Counter(codes) for (phase, what), codes in seen.codes.items()})
        # For the capacity plan's failover figures (docs/scaling.md); not asserted: speed varies.
        print(f"every call and both health checks answered again {recovered:.1f} s after start")

        # While PostgreSQL was down: UNAVAILABLE and NOT_SERVING, nothing else.
        assert seen.of("down", "AssignNext") == {"UNAVAILABLE"}, seen.codes
        assert seen.of("down", "GetUpload") == {"UNAVAILABLE"}, seen.codes
        for name in health:
            assert NOT_SERVING_NAME in seen.of("down", f"health {name}"), seen.codes
            assert seen.of("down", f"health {name}") <= {"SERVING", NOT_SERVING_NAME}
        # Nothing answered INTERNAL or UNKNOWN at any time.
        assert not {"INTERNAL", "UNKNOWN"} & {c for codes in seen.codes.values() for c in codes}
        assert seen.of("up", "AssignNext") == {"OK"}

        # Every due content published (counted once each by the caller), every acknowledged
        # assignment where it was told.
        deadline = time.monotonic() + PATIENCE
        while (uploaded := count_uploaded(url, due)) < len(due):
            assert time.monotonic() < deadline, f"{uploaded} of {len(due)} uploaded"
            await asyncio.sleep(0.2)  # real: real Uploaders publish on their own clock
        with psycopg.connect(url) as conn:
            held: dict[str, datetime] = dict(
                conn.execute(
                    "select content_id::text, scheduled_at from contents"
                    " where content_id = any(%s::uuid[])",
                    (list(seen.acknowledged),),
                ).fetchall()
            )
        assert held == seen.acknowledged, "an acknowledged assignment was lost or moved"


NOT_SERVING_NAME = health_pb2.HealthCheckResponse.ServingStatus.Name(NOT_SERVING)
