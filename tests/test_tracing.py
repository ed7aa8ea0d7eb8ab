"""OpenTelemetry tracing, seen through an in-memory exporter: one trace runs from the Uploader's
RetryUpload through its call to the Allocator into the Allocator's Reschedule and their
database transactions; a content a worker publishes is one trace down to the Upload-Post call,
which names the request id. Off (no OTEL_EXPORTER_OTLP_ENDPOINT), nothing is set up."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from queuelabs import tracing
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, make_profile
from tests.support.stack import running_stack, settled

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test alone, into memory. The process's tracer provider is set once
    (it cannot be replaced); outside these tests the spans stay off."""
    if trace.get_tracer_provider() is not PROVIDER:
        trace.set_tracer_provider(PROVIDER)
    monkeypatch.setattr(tracing, "_enabled", True)
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


def named(found: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in found if s.name == name]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_one_trace_runs_from_retry_upload_through_the_allocators_reschedule(
    database_url, spans
):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        await stack.db.execute(
            "update contents set status = 'failed', status_reason = 'for the test'"
            " where content_id = %s",
            (content.content_id,),
        )
        spans.clear()
        await stack.uploader.RetryUpload(upb.RetryUploadRequest(content_id=content.content_id))
        found = list(spans.get_finished_spans())

    [retry] = named(found, "queuelabs.uploader.v1.Uploader/RetryUpload")
    [asked] = [
        s
        for s in named(found, "queuelabs.allocator.v1.Allocator/Reschedule")
        if s.kind is SpanKind.CLIENT
    ]
    [served] = [
        s
        for s in named(found, "queuelabs.allocator.v1.Allocator/Reschedule")
        if s.kind is SpanKind.SERVER
    ]
    trace_id = retry.context.trace_id
    assert retry.kind is SpanKind.SERVER
    assert retry.parent is None  # the caller sent no context: the trace starts here
    assert asked.context.trace_id == served.context.trace_id == trace_id
    assert parent_of(asked) == retry.context.span_id
    assert parent_of(served) == asked.context.span_id  # carried in the call's metadata
    assert served.attributes is not None
    assert served.attributes["rpc.grpc.status_code"] == 0
    transactions = [
        s for s in named(found, "postgresql transaction") if s.context.trace_id == trace_id
    ]
    assert {parent_of(t) for t in transactions} >= {retry.context.span_id, served.context.span_id}


async def test_a_published_content_is_one_trace_down_to_the_upload_post_call(database_url, spans):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        upload = await settled(stack, content.content_id)
        deadline = time.monotonic() + 30
        while not named(list(spans.get_finished_spans()), "uploader handles a content"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)  # real: a real server ends its spans on its own loop
        found = list(spans.get_finished_spans())

    assert upload.state == upb.UPLOAD_STATE_UPLOADED
    [handled] = [
        s
        for s in named(found, "uploader handles a content")
        if s.attributes and s.attributes["queuelabs.content_id"] == content.content_id
    ]
    [posted] = named(found, "Upload-Post POST /upload")
    assert posted.context.trace_id == handled.context.trace_id
    assert parent_of(posted) == handled.context.span_id
    assert posted.attributes is not None
    assert posted.attributes["upload_post.request_id"] == upload.attempts[0].request_id
    assert posted.attributes["http.response.status_code"] == 200
    assert uuid.UUID(str(posted.attributes["upload_post.request_id"]))


def test_tracing_stays_off_without_an_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracing.configure("queuelabs-test") is False
