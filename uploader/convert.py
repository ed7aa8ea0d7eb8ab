"""Protobuf to domain and back for the Uploader, validating every field on the way in."""

from __future__ import annotations

from queuelabs.errors import InvalidArgument
from queuelabs.fields import (
    PLATFORM_TO_PB,
    optional_platform_field,
    page_size_field,
    page_token_in,
    page_token_out,
    platform_field,
    text_field,
    timestamp_out,
    uuid_field,
)
from queuelabs.lifecycle import ContentState
from queuelabs.uploader.v1 import uploader_pb2 as pb
from uploader.domain import AttemptRecord, PauseState, UploadQuery, UploadView

__all__ = ["platform_field", "uuid_field"]

STATE_TO_PB = {
    ContentState.SCHEDULED: pb.UPLOAD_STATE_SCHEDULED,
    ContentState.UPLOADING: pb.UPLOAD_STATE_UPLOADING,
    ContentState.RETRY_PENDING: pb.UPLOAD_STATE_RETRY_PENDING,
    ContentState.UNKNOWN_OUTCOME: pb.UPLOAD_STATE_UNKNOWN_OUTCOME,
    ContentState.AWAITING_SLOT: pb.UPLOAD_STATE_AWAITING_SLOT,
    ContentState.UPLOADED: pb.UPLOAD_STATE_UPLOADED,
    ContentState.FAILED: pb.UPLOAD_STATE_FAILED,
    ContentState.REMOVED: pb.UPLOAD_STATE_CANCELLED,  # CancelUpload releases it: one state
}
STATES_FROM_PB = {value: state for state, value in STATE_TO_PB.items()}


def reason_field(value: str) -> str:
    return text_field(value, "reason", 1000)


def upload_query_in(request: pb.ListUploadsRequest) -> UploadQuery:
    states: set[ContentState] = set()
    for i, value in enumerate(request.states):
        if value not in STATES_FROM_PB:
            raise InvalidArgument(f"states[{i}]", f"{value} is not an upload state")
        states.add(STATES_FROM_PB[value])
    profile_id = uuid_field(request.profile_id, "profile_id")
    platform = optional_platform_field(request.platform)
    filters = [profile_id, platform, sorted(states)]
    return UploadQuery(
        profile_id=profile_id,
        platform=platform,
        states=frozenset(states),
        page_size=page_size_field(request.page_size),
        after=page_token_in(request.page_token, filters),
    )


def page_out(query: UploadQuery, views: list[UploadView], more: bool) -> pb.ListUploadsResponse:
    last = views[-1] if views and more else None
    filters = [query.profile_id, query.platform, sorted(query.states)]
    return pb.ListUploadsResponse(
        uploads=[upload_out(v) for v in views],
        next_page_token=page_token_out(
            filters, (last.scheduled_at, last.content_id) if last else None
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


def upload_out(view: UploadView) -> pb.Upload:
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
        next_retry_at=timestamp_out(view.next_retry_at),
    )


def pause_out(state: PauseState) -> pb.PauseState:
    return pb.PauseState(
        profile_id=str(state.profile_id),
        platform=PLATFORM_TO_PB[state.platform],
        paused=state.paused_at is not None,
        paused_at=timestamp_out(state.paused_at),
    )
