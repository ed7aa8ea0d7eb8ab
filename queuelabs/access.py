"""Every call in and out, seen by one server interceptor (the outermost): its access line and
its Prometheus metrics, for calls answered, refused (auth included) or cut short alike.

The line is one log record, "<Method> <CODE> in <ms> ms", whose JSON form carries the fields
method, service, code, reason, duration_ms, caller, peer, and content_id / profile_id where the
request names them. Never a token: the caller is the name AUTH_TOKENS gives it. Health checks
are counted but not logged (a probe every few seconds would drown the rest).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry.trace import SpanKind

from queuelabs import metrics, tracing
from queuelabs.security import CallRecord, current_call

log = logging.getLogger("queuelabs.access")

_QUIET = ("/grpc.health.", "/grpc.reflection.")


class AccessLog(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        full: str = details.method
        service, _, method = full.lstrip("/").rpartition("/")
        quiet = full.startswith(_QUIET)
        if handler.unary_stream is not None and not quiet:
            return _recorded_stream(handler, service, method)
        if handler.unary_unary is None:
            return handler  # health Watch and reflection's streams pass as they are
        behaviour = handler.unary_unary

        async def recorded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            record = CallRecord()
            token = current_call.set(record)
            metrics.GRPC_STARTED.labels("unary", service, method).inc()
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            with tracing.span(
                f"{service}/{method}",
                SpanKind.SERVER,
                {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
                # the caller's context, read only when tracing is on (off: no work a call)
                parent=tracing.incoming(details.invocation_metadata) if tracing.enabled() else None,
            ) as span:
                try:
                    response = await behaviour(request, context)
                    code = _ending(context, None)
                    return response
                except BaseException as trouble:
                    code = _ending(context, trouble)
                    raise
                finally:
                    current_call.reset(token)
                    seconds = _handled("unary", service, method, code, started)
                    if span is not None:
                        span.set_attribute("rpc.grpc.status_code", code.value[0])
                        if record.reason:
                            span.set_attribute("error.type", record.reason)
                        if code is not grpc.StatusCode.OK:
                            tracing.failed(span, code.name)
                    if not quiet:
                        _line(method, service, code, seconds, record, context, request)

        return grpc.unary_unary_rpc_method_handler(
            recorded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _recorded_stream(
    handler: grpc.RpcMethodHandler, service: str, method: str
) -> grpc.RpcMethodHandler:
    """A server stream's line and metrics (WatchEvents), written when it ends: its duration
    is the stream's life."""
    behaviour = handler.unary_stream

    async def recorded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        record = CallRecord()
        token = current_call.set(record)
        metrics.GRPC_STARTED.labels("server_stream", service, method).inc()
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN
        try:
            async for response in behaviour(request, context):
                yield response
            code = _ending(context, None)
        except BaseException as trouble:
            code = _ending(context, trouble)
            raise
        finally:
            current_call.reset(token)
            seconds = _handled("server_stream", service, method, code, started)
            _line(method, service, code, seconds, record, context, request)

    return grpc.unary_stream_rpc_method_handler(
        recorded,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _ending(context: grpc.aio.ServicerContext, trouble: BaseException | None) -> grpc.StatusCode:
    """The status a call ended with: the one it set, else OK, CANCELLED (the client went away,
    or shutdown cut it) or UNKNOWN by how it ended."""
    if isinstance(trouble, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    default = grpc.StatusCode.OK if trouble is None else grpc.StatusCode.UNKNOWN
    return _code(context) or default


def _handled(kind: str, service: str, method: str, code: grpc.StatusCode, started: float) -> float:
    """Counts an ended call and its duration in the metrics; the duration, in seconds."""
    seconds = time.perf_counter() - started
    metrics.GRPC_HANDLED.labels(kind, service, method, code.name).inc()
    metrics.GRPC_HANDLING_SECONDS.labels(kind, service, method).observe(seconds)
    return seconds


def _code(context: grpc.aio.ServicerContext) -> grpc.StatusCode | None:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return None


def _line(
    method: str,
    service: str,
    code: grpc.StatusCode,
    seconds: float,
    record: CallRecord,
    context: grpc.aio.ServicerContext,
    request: Any,
) -> None:
    fields: dict[str, object] = {
        "method": method,
        "service": service,
        "code": code.name,
        "duration_ms": round(seconds * 1000, 2),
        "caller": record.caller,
        "peer": context.peer(),
    }
    if record.reason:
        fields["reason"] = record.reason
    fields.update(_ids(request))
    log.info("%s %s in %.1f ms", method, code.name, seconds * 1000, extra=fields)


def _ids(request: Any) -> dict[str, str]:
    """The content and profile a request names, where it names them (one content only)."""
    found = {}
    for name in ("content_id", "profile_id"):
        value = getattr(request, name, None)
        if isinstance(value, str) and value:
            found[name] = value[:64]
    content = getattr(request, "content", None)
    content_id = getattr(content, "content_id", None)
    if isinstance(content_id, str) and content_id and "content_id" not in found:
        found["content_id"] = content_id[:64]
    return found
