"""The Uploader's Allocator client: which answers it retries and which it hands to a person.

A stand-in Allocator on loopback answers every Reschedule with one status; the client must
retry only what can succeed if sent again (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED,
CANCELLED) and turn everything else into a refusal the content fails with.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1 import allocator_pb2_grpc as pb_grpc
from queuelabs.security import Security
from uploader.allocator_client import AllocatorGateway
from uploader.errors import (
    AllocatorRefused,
    AllocatorUnavailable,
    ContentNotFound,
    NoFreeSlot,
    WrongState,
)

EXPECTED = {
    grpc.StatusCode.UNAVAILABLE: AllocatorUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: AllocatorUnavailable,
    grpc.StatusCode.ABORTED: AllocatorUnavailable,
    grpc.StatusCode.CANCELLED: AllocatorUnavailable,
    grpc.StatusCode.NOT_FOUND: ContentNotFound,
    grpc.StatusCode.FAILED_PRECONDITION: WrongState,
    grpc.StatusCode.RESOURCE_EXHAUSTED: NoFreeSlot,
    grpc.StatusCode.UNAUTHENTICATED: AllocatorRefused,
    grpc.StatusCode.PERMISSION_DENIED: AllocatorRefused,
    grpc.StatusCode.INVALID_ARGUMENT: AllocatorRefused,
    grpc.StatusCode.ALREADY_EXISTS: AllocatorRefused,
    grpc.StatusCode.OUT_OF_RANGE: AllocatorRefused,
    grpc.StatusCode.UNIMPLEMENTED: AllocatorRefused,
    grpc.StatusCode.INTERNAL: AllocatorRefused,
    grpc.StatusCode.UNKNOWN: AllocatorRefused,
    grpc.StatusCode.DATA_LOSS: AllocatorRefused,
}


def test_every_status_is_placed():
    assert set(EXPECTED) == set(grpc.StatusCode) - {grpc.StatusCode.OK}


class AnswersWith(pb_grpc.AllocatorServicer):
    def __init__(self) -> None:
        self.code = grpc.StatusCode.UNAVAILABLE

    async def Reschedule(
        self, request: pb.RescheduleRequest, context: grpc.aio.ServicerContext
    ) -> pb.Assignment:
        await context.abort(self.code, f"planted {self.code.name}")
        raise AssertionError("unreachable")


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[AnswersWith, AllocatorGateway]]:
    servicer = AnswersWith()  # type: ignore[abstract]  # only Reschedule is called
    server = grpc.aio.server()
    pb_grpc.add_AllocatorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    gateway = AllocatorGateway(f"127.0.0.1:{port}", Security(), timeout=5)
    try:
        yield servicer, gateway
    finally:
        await gateway.close()
        await server.stop(grace=0)


@pytest.mark.parametrize("code", list(EXPECTED), ids=lambda code: code.name)
async def test_the_client_retries_only_what_can_succeed_when_sent_again(stand_in, code):
    servicer, gateway = stand_in
    servicer.code = code
    with pytest.raises(EXPECTED[code]) as refused:
        await gateway.reschedule(uuid.uuid4(), "gave up after 3 attempts")
    assert code.name in str(refused.value)
