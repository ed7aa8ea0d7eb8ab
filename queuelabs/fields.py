"""Checks and conversions for the protobuf fields both services share.

Every refusal names the field it is about, so a caller sees exactly what to fix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.errors import InvalidArgument
from queuelabs.platforms import Platform

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

# Derived by name: PLATFORM_<NAME> in the proto is Platform.<NAME> (tests/test_platforms.py).
PLATFORM_TO_PB: dict[Platform, pb.Platform.ValueType] = {
    platform: pb.Platform.Value(f"PLATFORM_{platform.name}") for platform in Platform
}
PLATFORM_FROM_PB: dict[int, Platform] = {v: k for k, v in PLATFORM_TO_PB.items()}


def uuid_field(value: str, field: str) -> UUID:
    if not value:
        raise InvalidArgument(field, "is required (a UUID)")
    try:
        return UUID(value)
    except ValueError:
        raise InvalidArgument(field, f"{value[:64]!r} is not a UUID") from None


def platform_field(value: int, field: str = "platform") -> Platform:
    if value == pb.PLATFORM_UNSPECIFIED:
        raise InvalidArgument(field, "is required (e.g. PLATFORM_TIKTOK)")
    if value not in PLATFORM_FROM_PB:
        raise InvalidArgument(field, f"{value} is not a known platform")
    return PLATFORM_FROM_PB[value]


def optional_platform_field(value: int, field: str = "platform") -> Platform | None:
    return None if value == pb.PLATFORM_UNSPECIFIED else platform_field(value, field)


def text_field(value: str, field: str, limit: int, *, required: bool = False) -> str:
    if "\x00" in value:
        raise InvalidArgument(field, "holds a NUL character")
    if required and not value.strip():
        raise InvalidArgument(field, "is required")
    if len(value) > limit:
        raise InvalidArgument(field, f"is {len(value)} characters long; at most {limit}")
    return value


def page_size_field(value: int) -> int:
    if value < 0:
        raise InvalidArgument("page_size", f"{value} is negative")
    if value > MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"{value} is more than {MAX_PAGE_SIZE}")
    return value or DEFAULT_PAGE_SIZE


def timestamp_out(instant: datetime | None) -> Timestamp | None:
    if instant is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(instant)
    return stamp


def timestamp_in(stamp: Timestamp, field: str) -> datetime:
    if not 0 <= stamp.nanos < 1_000_000_000:
        raise InvalidArgument(field, "has nanos out of range")
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(field, "is out of range") from None


# Page tokens: opaque to callers; they carry the keyset position and a fingerprint of the
# filters, so a token cannot be replayed against another query (AIP-158).


def _fingerprint(filters: Sequence[object]) -> str:
    return hashlib.sha256("|".join(map(str, filters)).encode()).hexdigest()[:16]


def page_token_out(filters: Sequence[object], after: tuple[datetime, UUID] | None) -> str:
    if after is None:
        return ""
    body = {"at": after[0].isoformat(), "id": str(after[1]), "q": _fingerprint(filters)}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def page_token_in(token: str, filters: Sequence[object]) -> tuple[datetime, UUID] | None:
    if not token:
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode()))
        after = (datetime.fromisoformat(body["at"]), UUID(body["id"]))
        fingerprint = body["q"]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise InvalidArgument("page_token", "is not a token this service issued") from None
    if fingerprint != _fingerprint(filters):
        raise InvalidArgument("page_token", "was issued for a different query")
    return after
