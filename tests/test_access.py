"""One interceptor sees every call: an access line (JSON fields method, code, reason,
duration_ms, caller, peer, content_id) for calls answered, refused by the service, and refused
at the door, and the per-RPC Prometheus metrics in their conventional names, with the pool's."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
import pytest
from prometheus_client import REGISTRY

from allocator.server import start_allocator
from allocator.settings import AllocatorSettings
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.logs import JsonFormatter
from queuelabs.security import Security
from tests.support.calls import video

TOKEN = "tok-access-8d21"
SERVICE = "queuelabs.allocator.v1.Allocator"


@pytest.fixture
async def guarded(database_url) -> AsyncIterator[AllocatorStub]:
    settings = AllocatorSettings(database_url, listen="127.0.0.1:0", pool_size=2)
    running = await start_allocator(replace(settings, security=Security(tokens={"ops": TOKEN})))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield AllocatorStub(channel)
    finally:
        await running.stop(grace=1)


def handled(method: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "grpc_server_handled_total",
        {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": method, "grpc_code": code},
    )
    return value or 0.0


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "queuelabs.access"]


async def test_every_call_gets_one_access_line_and_is_counted(guarded, caplog):
    caplog.set_level(logging.INFO, logger="queuelabs.access")
    before_door = handled("AssignNext", "UNAUTHENTICATED")
    before_refused = handled("AssignNext", "NOT_FOUND")
    content = video()
    request = pb.AssignNextRequest(
        profile_id=str(uuid.uuid4()), platform=pb.PLATFORM_TIKTOK, content=content
    )
    with pytest.raises(grpc.aio.AioRpcError):  # no token: refused at the door
        await guarded.AssignNext(request)
    with pytest.raises(grpc.aio.AioRpcError):  # past the door: no such profile
        await guarded.AssignNext(request, metadata=(("authorization", f"Bearer {TOKEN}"),))

    door, service = access_lines(caplog)
    assert str(door["message"]).startswith("AssignNext UNAUTHENTICATED in ")
    assert (door["method"], door["service"], door["code"], door["reason"]) == (
        "AssignNext",
        SERVICE,
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
    )
    assert "caller" not in door  # nobody known
    assert service["code"] == "NOT_FOUND"
    assert service["reason"] == "PROFILE_NOT_FOUND"
    assert service["caller"] == "ops"
    for line in (door, service):
        assert line["content_id"] == content.content_id
        assert line["profile_id"] == request.profile_id
        assert isinstance(line["duration_ms"], float)
        assert str(line["peer"]).startswith(("ipv4:127.0.0.1:", "ipv6:"))
        assert TOKEN not in json.dumps(line)

    assert handled("AssignNext", "UNAUTHENTICATED") == before_door + 1
    assert handled("AssignNext", "NOT_FOUND") == before_refused + 1
    seconds = REGISTRY.get_sample_value(
        "grpc_server_handling_seconds_count",
        {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "AssignNext"},
    )
    assert seconds is not None
    assert seconds >= 2


async def test_the_database_pool_is_measured(guarded):
    in_use = REGISTRY.get_sample_value(
        "queuelabs_db_pool_connections_in_use", {"service": "allocator"}
    )
    waiting = REGISTRY.get_sample_value(
        "queuelabs_db_pool_requests_waiting", {"service": "allocator"}
    )
    assert in_use == 0  # nothing is being served
    assert waiting == 0
