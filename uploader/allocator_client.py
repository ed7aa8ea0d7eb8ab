"""The Uploader's way to the Allocator (ALLOCATOR_ADDR): new slots for content that must move,
and freeing the slot of a cancelled content."""

from __future__ import annotations

import logging
from uuid import UUID

import grpc

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.security import Security, call_metadata, client_channel
from uploader.errors import (
    AllocatorUnavailable,
    ContentNotFound,
    NoFreeSlot,
    UploaderError,
    WrongState,
)

log = logging.getLogger(__name__)

# Answers that asking again will not change; anything else counts as "unavailable, retry".
_REFUSALS: dict[grpc.StatusCode, type[UploaderError]] = {
    grpc.StatusCode.NOT_FOUND: ContentNotFound,
    grpc.StatusCode.FAILED_PRECONDITION: WrongState,
    grpc.StatusCode.RESOURCE_EXHAUSTED: NoFreeSlot,
}


class AllocatorGateway:
    def __init__(self, address: str, security: Security, timeout: float = 10.0) -> None:
        self._channel = client_channel(address, security)
        self._stub = AllocatorStub(self._channel)
        self._metadata = call_metadata(security)
        self._timeout = timeout

    async def close(self) -> None:
        await self._channel.close()

    async def reschedule(self, content_id: UUID, reason: str) -> None:
        """Moves the content to the Allocator's earliest free slot from now on."""
        await self._call(
            "Reschedule", pb.RescheduleRequest(content_id=str(content_id), reason=reason[:1000])
        )

    async def release(self, content_id: UUID, reason: str) -> None:
        """Takes the content out of line and frees its slot."""
        await self._call("Release", pb.ReleaseRequest(content_id=str(content_id), reason=reason))

    async def _call(self, method: str, request: object) -> None:
        try:
            await getattr(self._stub, method)(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as failed:
            refusal = _REFUSALS.get(failed.code())
            if refusal is not None:
                raise refusal(failed.details() or method) from None
            raise AllocatorUnavailable(
                f"the Allocator did not answer {method}: {failed.code().name}; retry"
            ) from None
