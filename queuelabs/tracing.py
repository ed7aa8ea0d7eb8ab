"""OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard variables:
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED, ...;
spans go out over OTLP/HTTP). Spans: each RPC served (the context a caller sends in its
`traceparent` metadata continued), each call to the Allocator (the context sent along), each
database transaction, each call to Upload-Post (with the request id), and each content a worker
handles. Off, none of this costs more than a flag's test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

_tracer = trace.get_tracer("queuelabs")
_enabled = False


def configure(service: str) -> bool:
    """Sends spans to OTEL_EXPORTER_OTLP_ENDPOINT as `service` (unless OTEL_SERVICE_NAME says
    otherwise); does nothing when the variable is not set. True when tracing is on."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    return True


def install(provider: trace.TracerProvider) -> None:
    """Makes `provider` the process's tracer provider and turns the spans on (tests use it
    with an in-memory exporter)."""
    global _enabled
    trace.set_tracer_provider(provider)
    _enabled = True


def enabled() -> bool:
    return _enabled


@contextmanager
def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    parent: Mapping[str, str] | None = None,
) -> Iterator[trace.Span | None]:
    """A span around the block when tracing is on (continuing the context carried in `parent`,
    if given); None and no work when it is off."""
    if not _enabled:
        yield None
        return
    context = propagate.extract(parent) if parent is not None else None
    with _tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=dict(attributes or {})
    ) as current:
        yield current


def carrier() -> list[tuple[str, str]]:
    """The current context as gRPC metadata (W3C traceparent), for a call to send along."""
    if not _enabled:
        return []
    found: dict[str, str] = {}
    propagate.inject(found)
    return list(found.items())


def incoming(metadata: Sequence[Any] | None) -> dict[str, str]:
    """A call's metadata as a carrier for `span(parent=...)`."""
    return {str(key): str(value) for key, value in (metadata or ()) if isinstance(value, str)}


def failed(current: trace.Span | None, description: str) -> None:
    """Marks the span as an error, if there is one."""
    if current is not None:
        current.set_status(Status(StatusCode.ERROR, description))
