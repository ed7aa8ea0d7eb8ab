"""Protobuf to the webhook domain and back, validating every field on the way in."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from queuelabs.errors import InvalidArgument
from queuelabs.events import EventType
from queuelabs.fields import (
    page_size_field,
    page_token_in,
    page_token_out,
    text_field,
    timestamp_out,
    uuid_field,
)
from queuelabs.uploader.v1 import uploader_pb2 as pb
from uploader.webhooks.domain import AttemptView, Endpoint, EndpointSpec, Rotation
from uploader.webhooks.targets import MAX_URL

TYPES = {t.value for t in EventType}
# A page token of ListWebhookEndpoints is good for that call only.
ENDPOINT_PAGES = ["webhook endpoints"]


def optional_uuid_field(value: str, field: str) -> UUID | None:
    return uuid_field(value, field) if value else None


def endpoint_spec_in(request: pb.CreateWebhookEndpointRequest) -> EndpointSpec:
    types = set()
    for i, value in enumerate(request.types):
        if value not in TYPES:
            raise InvalidArgument(f"types[{i}]", f"{value[:64]!r} is not an event type")
        types.add(EventType(value))
    return EndpointSpec(
        url=text_field(request.url, "url", MAX_URL, required=True).strip(),
        types=frozenset(types),
        profile_ids=frozenset(
            uuid_field(value, f"profile_ids[{i}]") for i, value in enumerate(request.profile_ids)
        ),
        description=text_field(request.description, "description", 1000),
    )


def endpoint_out(endpoint: Endpoint) -> pb.WebhookEndpoint:
    return pb.WebhookEndpoint(
        endpoint_id=str(endpoint.endpoint_id),
        url=endpoint.spec.url,
        types=sorted(t.value for t in endpoint.spec.types),
        profile_ids=sorted(str(p) for p in endpoint.spec.profile_ids),
        description=endpoint.spec.description,
        created_at=timestamp_out(endpoint.created_at),
        disabled=endpoint.disabled_at is not None,
        disabled_reason=endpoint.disabled_reason,
        disabled_at=timestamp_out(endpoint.disabled_at),
    )


def created_out(endpoint: Endpoint, secret: str) -> pb.CreateWebhookEndpointResponse:
    return pb.CreateWebhookEndpointResponse(
        endpoint_id=str(endpoint.endpoint_id), secret=secret, endpoint=endpoint_out(endpoint)
    )


def endpoints_page_in(
    request: pb.ListWebhookEndpointsRequest,
) -> tuple[tuple[datetime, UUID] | None, int]:
    return page_token_in(request.page_token, ENDPOINT_PAGES), page_size_field(request.page_size)


def endpoints_page_out(endpoints: list[Endpoint], more: bool) -> pb.ListWebhookEndpointsResponse:
    last = endpoints[-1] if endpoints and more else None
    return pb.ListWebhookEndpointsResponse(
        endpoints=[endpoint_out(e) for e in endpoints],
        next_page_token=page_token_out(
            ENDPOINT_PAGES, (last.created_at, last.endpoint_id) if last else None
        ),
    )


def overlap_in(request: pb.RotateWebhookSecretRequest) -> timedelta | None:
    if not request.HasField("previous_secret_valid_for"):
        return None
    valid_for = request.previous_secret_valid_for
    if valid_for.seconds < 0 or valid_for.nanos < 0:
        raise InvalidArgument("previous_secret_valid_for", "is negative")
    try:
        return valid_for.ToTimedelta()
    except (OverflowError, ValueError):  # past what a timedelta holds (the fuzz suite found it)
        raise InvalidArgument("previous_secret_valid_for", "is out of range") from None


def rotated_out(rotation: Rotation) -> pb.RotateWebhookSecretResponse:
    return pb.RotateWebhookSecretResponse(
        endpoint_id=str(rotation.endpoint_id),
        secret=rotation.secret,
        previous_secret_expires_at=timestamp_out(rotation.previous_secret_expires_at),
    )


def attempts_query_in(
    request: pb.ListWebhookAttemptsRequest,
) -> tuple[UUID | None, UUID | None, tuple[datetime, UUID] | None, int]:
    endpoint_id = optional_uuid_field(request.endpoint_id, "endpoint_id")
    event_id = optional_uuid_field(request.event_id, "event_id")
    before = page_token_in(request.page_token, ["webhook attempts", endpoint_id, event_id])
    return endpoint_id, event_id, before, page_size_field(request.page_size)


def attempt_out(attempt: AttemptView) -> pb.WebhookAttempt:
    return pb.WebhookAttempt(
        endpoint_id=str(attempt.endpoint_id),
        event_id=str(attempt.event_id),
        attempt=attempt.attempt,
        attempted_at=timestamp_out(attempt.attempted_at),
        http_status=attempt.http_status or 0,
        error=attempt.error,
        delivered=attempt.delivered,
        next_attempt_at=timestamp_out(attempt.next_attempt_at),
    )


def attempts_page_out(
    request: pb.ListWebhookAttemptsRequest, found: list[tuple[AttemptView, UUID]], more: bool
) -> pb.ListWebhookAttemptsResponse:
    endpoint_id = optional_uuid_field(request.endpoint_id, "endpoint_id")
    event_id = optional_uuid_field(request.event_id, "event_id")
    last = found[-1] if found and more else None
    return pb.ListWebhookAttemptsResponse(
        attempts=[attempt_out(a) for a, _ in found],
        next_page_token=page_token_out(
            ["webhook attempts", endpoint_id, event_id],
            (last[0].attempted_at, last[1]) if last else None,
        ),
    )
