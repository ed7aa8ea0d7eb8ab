"""Every way an Uploader call can be refused, and the one gRPC status each maps to."""

from __future__ import annotations

import grpc

from queuelabs.errors import Refusal


class UploaderError(Refusal):
    """A refusal by the Uploader."""


class ContentNotFound(UploaderError):
    status = grpc.StatusCode.NOT_FOUND
    reason = "CONTENT_NOT_FOUND"


class ProfileNotFound(UploaderError):
    status = grpc.StatusCode.NOT_FOUND
    reason = "PROFILE_NOT_FOUND"


class WrongState(UploaderError):
    status = grpc.StatusCode.FAILED_PRECONDITION
    reason = "WRONG_STATE"


class OverDailyCap(UploaderError):
    """More posts than Upload-Post's daily cap for the platform would allow."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    reason = "OVER_DAILY_CAP"


class NoFreeSlot(UploaderError):
    """The Allocator has no free slot for the content within its horizon."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "NO_FREE_SLOT"


class AllocatorUnavailable(UploaderError):
    """The Allocator could not be reached; safe to retry."""

    status = grpc.StatusCode.UNAVAILABLE
    reason = "ALLOCATOR_UNAVAILABLE"
    retry_after = 1.0


class AllocatorRefused(UploaderError):
    """The Allocator answered with a status that asking again will not change (a wrong token,
    a request it does not take): a person must act."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    reason = "ALLOCATOR_REFUSED"


class Stopping(UploaderError):
    """This replica is shutting down: a stream it serves ends here, and the caller picks up
    where it was (its last cursor) on another replica or once this one is back."""

    status = grpc.StatusCode.UNAVAILABLE
    reason = "SERVER_STOPPING"
    retry_after = 1.0


class WebhookEndpointNotFound(UploaderError):
    status = grpc.StatusCode.NOT_FOUND
    reason = "WEBHOOK_ENDPOINT_NOT_FOUND"
