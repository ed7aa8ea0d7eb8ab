"""The webhook domain objects: endpoints as callers see them, deliveries a sender holds, the
attempts an operator reads, and the body an event is delivered as."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from queuelabs.events import EventType
from uploader.domain import StoredEvent


@dataclass(frozen=True)
class EndpointSpec:
    """What a caller asks for: where, and which events (an empty set: every one)."""

    url: str
    types: frozenset[EventType]
    profile_ids: frozenset[UUID]
    description: str

    def wants(self, event: StoredEvent) -> bool:
        """Whether this endpoint is owed `event`. An event about no profile (webhook.*) passes
        a profile filter: it is about the endpoints, not about a profile."""
        if self.types and event.type not in self.types:
            return False
        return (
            not self.profile_ids
            or event.profile_id is None
            or (event.profile_id in self.profile_ids)
        )


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as listed: never its secrets."""

    endpoint_id: UUID
    spec: EndpointSpec
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Endpoint:
        return cls(
            endpoint_id=row["endpoint_id"],
            spec=EndpointSpec(
                url=row["url"],
                types=frozenset(EventType(t) for t in row["types"]),
                profile_ids=frozenset(row["profile_ids"]),
                description=row["description"],
            ),
            created_at=row["created_at"],
            disabled_at=row["disabled_at"],
            disabled_reason=row["disabled_reason"],
        )


@dataclass(frozen=True)
class Rotation:
    endpoint_id: UUID
    secret: str
    previous_secret_expires_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One event owed to one endpoint, claimed by this sender for one attempt."""

    endpoint_id: UUID
    event_xid: int
    event_seq: int
    event_id: UUID
    body: str
    attempt: int  # this try's number, from 1
    url: str
    # The current secret, then a rotated-out one still signing; never printed.
    secrets: tuple[str, ...] = field(repr=False)

    @classmethod
    def from_row(cls, row: dict[str, Any], now: datetime) -> Delivery:
        still_signing = row["previous_secret"] is not None and (
            row["previous_secret_expires_at"] > now
        )
        return cls(
            endpoint_id=row["endpoint_id"],
            event_xid=int(row["event_xid"]),
            event_seq=row["event_seq"],
            event_id=row["event_id"],
            body=row["body"],
            attempt=row["attempts"],
            url=row["url"],
            secrets=(row["secret"], row["previous_secret"]) if still_signing else (row["secret"],),
        )


@dataclass(frozen=True)
class AttemptView:
    """One try at one delivery, as an operator sees it."""

    endpoint_id: UUID
    event_id: UUID
    attempt: int
    attempted_at: datetime
    http_status: int | None
    error: str
    delivered: bool
    next_attempt_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AttemptView:
        return cls(
            endpoint_id=row["endpoint_id"],
            event_id=row["event_id"],
            attempt=row["attempt"],
            attempted_at=row["attempted_at"],
            http_status=row["http_status"],
            error=row["error"],
            delivered=row["delivered"],
            next_attempt_at=row["next_attempt_at"],
        )


def instant(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as the specification's examples write it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body_of(event: StoredEvent) -> str:
    """The JSON body an event is delivered as (Standard Webhooks: type, timestamp, data), the
    same bytes on every try. `data` carries the event's place in the log (`cursor`), its
    subject and its own fields."""
    data: dict[str, Any] = {
        "event_id": str(event.event_id),
        "cursor": str(event.cursor),
        "content_id": None if event.content_id is None else str(event.content_id),
        "profile_id": None if event.profile_id is None else str(event.profile_id),
        "platform": None if event.platform is None else event.platform.value,
        **event.data,
    }
    payload = {"type": event.type.value, "timestamp": instant(event.occurred_at), "data": data}
    return json.dumps(payload, separators=(",", ":"))
