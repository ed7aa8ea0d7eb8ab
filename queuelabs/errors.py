"""The root of every refusal a service sends back, and the one place refusals become statuses.

Each service has its own errors module (allocator/errors.py, uploader/errors.py) whose
exceptions derive from Refusal and name their gRPC status.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

log = logging.getLogger(__name__)


class Refusal(Exception):
    """A refusal a caller can act on; its message goes back to the caller as is."""

    status: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION


class InvalidArgument(Refusal):
    status = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]]


def refusals_as_status(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """Ends the call with the status of a Refusal; logs anything unexpected as INTERNAL."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext) -> Response:
        try:
            return await handler(self, request, context)
        except Refusal as refusal:
            await context.abort(refusal.status, str(refusal))
        except Exception:
            log.exception("%s failed", handler.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
        raise AssertionError("unreachable: context.abort raises")

    return wrapper
