"""The root of every refusal a service sends back, and the one place refusals become statuses.

Each service has its own errors module (allocator/errors.py, uploader/errors.py) whose
exceptions derive from Refusal and name their gRPC status.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from queuelabs.security import caller
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


Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]]


def refusals_as_status(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """Ends the call with the status of a Refusal; logs anything unexpected as INTERNAL.

    The access line is written before the answer goes out, so whoever sees the answer can
    already read the line."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext) -> Response:
        started = time.perf_counter()

        def access(outcome: grpc.StatusCode) -> None:
            # One line per call, with who called (never their token).
            log.info(
                "%s %s in %.1f ms",
                handler.__name__,
                outcome.name,
                (time.perf_counter() - started) * 1000,
                extra={"caller": caller.get()},
            )

        try:
            response = await handler(self, request, context)
        except Refusal as refusal:
            access(refusal.status)
            await context.abort(refusal.status, str(refusal), refusal.trailing_metadata())
        except asyncio.CancelledError:
            access(grpc.StatusCode.CANCELLED)  # the client went away, or shutdown cut it
            raise
        except Exception:
            log.exception("%s failed", handler.__name__)
            access(grpc.StatusCode.INTERNAL)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
        else:
            access(grpc.StatusCode.OK)
            return response
        raise AssertionError("unreachable: context.abort raises")

    return wrapper
