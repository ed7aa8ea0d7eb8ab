"""The root of every refusal a service sends back, and the one place refusals become statuses
(the Refusals interceptor).

Each service has its own errors module (allocator/errors.py, uploader/errors.py) whose
exceptions derive from Refusal and name their gRPC status and reason.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc

from queuelabs.security import note_reason
from queuelabs.status import Trailer, rich_status

log = logging.getLogger(__name__)


class Refusal(Exception):
    """A refusal a caller can act on; its message goes back to the caller as is, with a
    google.rpc.ErrorInfo (a stable `reason`, `metadata` naming the ids involved) and, when
    asking again later may succeed, a google.rpc.RetryInfo (queuelabs/status.py)."""

    status: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION
    reason: str = "REFUSED"
    retry_after: float | None = None  # seconds; set: a RetryInfo goes with the refusal

    def __init__(self, message: str, **metadata: object) -> None:
        super().__init__(message)
        self.metadata = {key: str(value) for key, value in metadata.items() if value is not None}

    def trailing_metadata(self) -> Trailer:
        return rich_status(
            self.status, str(self), self.reason, self.metadata, retry_after=self.retry_after
        )


class DatabaseUnavailable(Refusal):
    """PostgreSQL cannot be reached, or no connection freed up in time; safe to retry."""

    status = grpc.StatusCode.UNAVAILABLE
    reason = "DATABASE_UNAVAILABLE"
    retry_after = 1.0


class Conflict(Refusal):
    """PostgreSQL aborted the transaction for a concurrent one (deadlock, serialization);
    nothing was changed, and the same request may simply be sent again."""

    status = grpc.StatusCode.ABORTED
    reason = "CONCURRENT_CHANGE"
    retry_after = 0.1


class InvalidArgument(Refusal):
    """A field of the request is wrong; a google.rpc.BadRequest names it."""

    status = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)
        self.field = field
        self.problem = problem

    def trailing_metadata(self) -> Trailer:
        return rich_status(
            self.status,
            str(self),
            self.reason,
            self.metadata,
            field_violations=[(self.field, self.problem)],
        )


class Refusals(grpc.aio.ServerInterceptor):
    """Ends a call whose servicer raised a Refusal with the status, message and details it
    names; anything unexpected is logged with its traceback and answered INTERNAL, never with
    gRPC's UNKNOWN naming a Python exception. Health and reflection pass as they are."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith("/grpc."):
            return handler
        if handler.unary_stream is not None:
            return _refusals_of_stream(handler, method)
        if handler.unary_unary is None:
            return handler
        behaviour = handler.unary_unary

        async def answered(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await behaviour(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as trouble:
                await _abort_with(trouble, method, context)

        return grpc.unary_unary_rpc_method_handler(
            answered,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


async def _abort_with(
    trouble: Exception, method: str, context: grpc.aio.ServicerContext
) -> NoReturn:
    """Ends a call with what `trouble` means: a refusal's own status and details, anything else
    INTERNAL (logged here with its traceback; the caller is told only to see the log)."""
    if isinstance(trouble, Refusal):
        note_reason(trouble.reason)
        await context.abort(trouble.status, str(trouble), trouble.trailing_metadata())
    log.exception("%s failed", method.rpartition("/")[2])
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
    raise AssertionError("unreachable: context.abort raises")


def _refusals_of_stream(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """The same for a server stream (WatchEvents): a refusal raised before or between the
    messages ends the stream with its status."""
    behaviour = handler.unary_stream

    async def streamed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as trouble:
            await _abort_with(trouble, method, context)

    return grpc.unary_stream_rpc_method_handler(
        streamed,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
