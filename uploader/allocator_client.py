"""The Uploader's way to the Allocator (ALLOCATOR_ADDR): new slots for content that must move,
and freeing the slot of a cancelled content."""

from __future__ import annotations

import logging
from typing import NoReturn
from uuid import UUID

import grpc
from opentelemetry.trace import SpanKind

from queuelabs import tracing
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.security import Security, call_metadata, client_channel
from queuelabs.status import error_info
from uploader.errors import (
    AllocatorRefused,
    AllocatorUnavailable,
    ContentNotFound,
    NoFreeSlot,
    UploaderError,
    WrongState,
)

log = logging.getLogger(__name__)

# Answers that may change if the same call is sent again later: the Allocator or its database
# away or busy, a deadline passed, a transaction aborted for a concurrent one, a call cut short.
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)
# The Allocator's refusals the Uploader tells apart; any other status (UNAUTHENTICATED for a
# wrong ALLOCATOR_TOKEN, PERMISSION_DENIED, INVALID_ARGUMENT, INTERNAL, ...) is AllocatorRefused.
_REFUSALS: dict[grpc.StatusCode, type[UploaderError]] = {
    grpc.StatusCode.NOT_FOUND: ContentNotFound,
    grpc.StatusCode.FAILED_PRECONDITION: WrongState,
    grpc.StatusCode.RESOURCE_EXHAUSTED: NoFreeSlot,  # no free slot within the horizon
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

    async def release(self, content_id: UUID, reason: str, cancel: bool = False) -> None:
        """Takes the content out of line and frees its slot; `cancel`: the upload is cancelled
        (the Allocator tells upload.cancelled, not content.released)."""
        await self._call(
            "Release", pb.ReleaseRequest(content_id=str(content_id), reason=reason, cancel=cancel)
        )

    async def _call(self, method: str, request: object) -> None:
        service = "queuelabs.allocator.v1.Allocator"
        with tracing.span(
            f"{service}/{method}",
            SpanKind.CLIENT,
            {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
        ) as span:
            try:
                await getattr(self._stub, method)(
                    request, timeout=self._timeout, metadata=(*self._metadata, *tracing.carrier())
                )
            except grpc.aio.AioRpcError as failed:
                tracing.failed(span, failed.code().name)
                self._refused(method, failed)

    def _refused(self, method: str, failed: grpc.aio.AioRpcError) -> NoReturn:
        """Raises what an Allocator's refusal means here."""
        code = failed.code()
        info = error_info(failed)
        said = info.reason if info is not None else None  # the Allocator's own reason
        if code in _RETRYABLE:
            raise AllocatorUnavailable(
                f"the Allocator did not answer {method}: {code.name}; retry",
                allocator_reason=said,
            ) from None
        refusal = _REFUSALS.get(code, AllocatorRefused)
        # The Allocator's messages name fields and ids, never a token.
        raise refusal(
            f"{method}: {code.name}: {failed.details() or 'no details'}",
            allocator_reason=said,
        ) from None
