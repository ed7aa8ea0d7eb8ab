"""gRPC's rich error model (AIP-193), in one place: a refusal's status carries, in the
`grpc-status-details-bin` trailer every gRPC library's status helpers read, a
google.rpc.ErrorInfo (a stable `reason`, the domain, `metadata` naming the ids involved), a
google.rpc.RetryInfo when asking again later may succeed, and a google.rpc.BadRequest naming the
fields at fault. `error_info` reads the ErrorInfo back from a failed call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import grpc
from google.protobuf import any_pb2
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

# The domain of every ErrorInfo the services send: with `reason`, what a caller keys on.
DOMAIN = "queuelabs"

Trailer = tuple[tuple[str, bytes], ...]


def rich_status(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
    *,
    retry_after: float | None = None,
    field_violations: Sequence[tuple[str, str]] = (),
) -> Trailer:
    """The trailing metadata that carries the details of a refusal with `code` and `message`."""
    details: list[Message] = [
        error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=dict(metadata or {}))
    ]
    if retry_after is not None:
        wait = Duration()
        wait.FromTimedelta(timedelta(seconds=retry_after))
        details.append(error_details_pb2.RetryInfo(retry_delay=wait))
    if field_violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                    for f, d in field_violations
                ]
            )
        )
    packed = []
    for detail in details:
        wrapped = any_pb2.Any()
        wrapped.Pack(detail)
        packed.append(wrapped)
    rich = status_pb2.Status(code=code.value[0], message=message, details=packed)
    trailer: Trailer = rpc_status.to_status(rich).trailing_metadata
    return trailer


def details_of(error: grpc.RpcError) -> list[Message]:
    """The detail messages of a failed call (ErrorInfo, RetryInfo, BadRequest), unpacked."""
    rich = rpc_status.from_call(error)
    if rich is None:
        return []
    found: list[Message] = []
    for packed in rich.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.RetryInfo,
            error_details_pb2.BadRequest,
        ):
            if packed.Is(kind.DESCRIPTOR):
                detail = kind()
                packed.Unpack(detail)
                found.append(detail)
    return found


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo of a failed call, or None when it carries none."""
    for detail in details_of(error):
        if isinstance(detail, error_details_pb2.ErrorInfo):
            return detail
    return None
