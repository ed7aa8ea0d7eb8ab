"""Protobuf to domain and back for the Uploader, validating every field on the way in."""

from __future__ import annotations

import logging
from dataclasses import replace

from google.protobuf.json_format import ParseDict, ParseError

from queuelabs.allocator.v1.allocator_pb2 import PLATFORM_UNSPECIFIED
from queuelabs.errors import InvalidArgument
from queuelabs.events import Cursor, EventType
from queuelabs.fields import (
    PLATFORM_TO_PB,
    optional_platform_field,
    page_size_field,
    page_token_in,
    page_token_out,
    platform_field,
    text_field,
    timestamp_in,
    timestamp_out,
    uuid_field,
)
from queuelabs.lifecycle import ContentState
from queuelabs.uploader.v1 import uploader_pb2 as pb
from uploader.domain import AttemptRecord, PauseState, StoredEvent, UploadQuery
from uploader.waiting import Standing, Waiting, WaitReason
from uploader.watch import Watch

log = logging.getLogger(__name__)

__all__ = ["platform_field", "uuid_field"]

STATE_TO_PB = {
    ContentState.SCHEDULED: pb.UPLOAD_STATE_SCHEDULED,
    ContentState.UPLOADING: pb.UPLOAD_STATE_UPLOADING,
    ContentState.RETRY_PENDING: pb.UPLOAD_STATE_RETRY_PENDING,
    ContentState.UNKNOWN_OUTCOME: pb.UPLOAD_STATE_UNKNOWN_OUTCOME,
    ContentState.PROCESSING: pb.UPLOAD_STATE_PROCESSING,
    ContentState.AWAITING_SLOT: pb.UPLOAD_STATE_AWAITING_SLOT,
    ContentState.UPLOADED: pb.UPLOAD_STATE_UPLOADED,
    ContentState.FAILED: pb.UPLOAD_STATE_FAILED,
    ContentState.REMOVED: pb.UPLOAD_STATE_CANCELLED,  # CancelUpload releases it: one state
}
STATES_FROM_PB = {value: state for state, value in STATE_TO_PB.items()}

# Derived by name: WAIT_REASON_<NAME> in the proto is WaitReason.<NAME> (tests/test_waiting.py).
WAIT_REASON_TO_PB: dict[WaitReason, pb.WaitReason.ValueType] = {
    reason: pb.WaitReason.Value("WAIT_REASON_" + reason.name) for reason in WaitReason
}

# Each type's fields travel in Event's `data` oneof, in the member named after the type
# ("content.assigned": content_assigned); tests/test_watch_events.py holds every type to one.
EVENT_DATA_FIELD = {t: t.value.replace(".", "_") for t in EventType}

# The most values one filter of WatchEvents takes (each is a condition of every read).
MAX_FILTER_VALUES = 1000


def reason_field(value: str) -> str:
    return text_field(value, "reason", 1000)


def upload_query_in(request: pb.ListUploadsRequest) -> UploadQuery:
    states: set[ContentState] = set()
    for i, value in enumerate(request.states):
        if value not in STATES_FROM_PB:
            raise InvalidArgument(f"states[{i}]", f"{value} is not an upload state")
        states.add(STATES_FROM_PB[value])
    query = UploadQuery(
        # Empty: every profile's (AUTH_TOKENS admits callers to every profile alike).
        profile_id=uuid_field(request.profile_id, "profile_id") if request.profile_id else None,
        platform=optional_platform_field(request.platform),
        states=frozenset(states),
        page_size=page_size_field(request.page_size),
        after=None,
        changed_after=(
            cursor_field(request.changed_after_cursor, "changed_after_cursor")
            if request.changed_after_cursor
            else None
        ),
        changed_since=(
            timestamp_in(request.changed_since, "changed_since")
            if request.HasField("changed_since")
            else None
        ),
    )
    return replace(query, after=page_token_in(request.page_token, query.filters))


def page_out(query: UploadQuery, found: list[Standing], more: bool) -> pb.ListUploadsResponse:
    last = found[-1].view if found and more else None
    return pb.ListUploadsResponse(
        uploads=[upload_out(s) for s in found],
        next_page_token=page_token_out(
            query.filters, (last.scheduled_at, last.content_id) if last else None
        ),
    )


def attempt_out(attempt: AttemptRecord) -> pb.Attempt:
    came_to = "in flight" if attempt.outcome is None else attempt.outcome.value
    return pb.Attempt(
        number=attempt.number,
        started_at=timestamp_out(attempt.started_at),
        finished_at=timestamp_out(attempt.finished_at),
        outcome=f"{attempt.kind.value}: {came_to}",
        http_status=attempt.http_status or 0,
        request_id=attempt.request_id,
        error=attempt.error,
    )


def upload_out(found: Standing) -> pb.Upload:
    """The content as it stands: next_retry_at as reported (never in the past while it waits),
    and why it waits while it is in line."""
    view = found.view
    return pb.Upload(
        content_id=str(view.content_id),
        profile_id=str(view.profile_id),
        platform=PLATFORM_TO_PB[view.platform],
        state=STATE_TO_PB[view.state],
        scheduled_at=timestamp_out(view.scheduled_at),
        attempts=[attempt_out(a) for a in view.attempts],
        failure_reason=view.failure_reason,
        post_url=view.post_url,
        retry_count=view.retry_count,
        next_retry_at=timestamp_out(found.next_retry_at),
        waiting=waiting_out(found.waiting),
        platform_post_id=view.platform_post_id,
    )


def waiting_out(waiting: Waiting | None) -> pb.Waiting | None:
    if waiting is None:
        return None
    return pb.Waiting(
        reason=WAIT_REASON_TO_PB[waiting.reason],
        until=timestamp_out(waiting.until),
        detail=waiting.detail,
    )


def pause_out(state: PauseState) -> pb.PauseState:
    return pb.PauseState(
        profile_id=str(state.profile_id),
        platform=PLATFORM_TO_PB[state.platform],
        paused=state.paused_at is not None,
        paused_at=timestamp_out(state.paused_at),
        paused_by=state.paused_by,
        reason=state.reason,
    )


def cursor_field(value: str, field: str) -> Cursor:
    """An event cursor a caller handed back ("0": the start of the log)."""
    try:
        return Cursor.parse(value)
    except ValueError as wrong:
        raise InvalidArgument(field, f"{value[:64]!r} {wrong}") from None


def watch_in(request: pb.WatchEventsRequest) -> Watch:
    for field in ("profile_ids", "platforms", "types"):
        if len(getattr(request, field)) > MAX_FILTER_VALUES:
            raise InvalidArgument(field, f"holds more than {MAX_FILTER_VALUES} values")
    types: set[EventType] = set()
    for i, name in enumerate(request.types):
        try:
            types.add(EventType(name))
        except ValueError:
            known = ", ".join(t.value for t in EventType)
            raise InvalidArgument(
                f"types[{i}]", f"{name[:64]!r} is not an event type (one of {known})"
            ) from None
    return Watch(
        after=cursor_field(request.after_cursor, "after_cursor") if request.after_cursor else None,
        profile_ids=frozenset(
            uuid_field(value, f"profile_ids[{i}]") for i, value in enumerate(request.profile_ids)
        ),
        platforms=frozenset(
            platform_field(value, f"platforms[{i}]") for i, value in enumerate(request.platforms)
        ),
        types=frozenset(types),
    )


def event_out(event: StoredEvent) -> pb.Event:
    message = pb.Event(
        cursor=str(event.cursor),
        event_id=str(event.event_id),
        type=event.type.value,
        content_id=str(event.content_id or ""),
        profile_id=str(event.profile_id or ""),
        platform=PLATFORM_TO_PB[event.platform] if event.platform else PLATFORM_UNSPECIFIED,
        occurred_at=timestamp_out(event.occurred_at),
    )
    data = getattr(message, EVENT_DATA_FIELD[event.type])
    data.SetInParent()  # the type's member is set even when none of its fields is
    try:
        # Stored keys are the message's field names, instants ISO-8601: protobuf's JSON form.
        ParseDict(event.data, data, ignore_unknown_fields=True)
    except ParseError:
        # One malformed row must not stop every watcher at its cursor: it goes without its data.
        log.error("event %s (%s) has data its message cannot hold", event.event_id, event.type)
        data.Clear()
        data.SetInParent()
    return message
