"""Every way an Uploader call can be refused, and the one gRPC status each maps to."""

from __future__ import annotations

import grpc

from queuelabs.errors import Refusal


class UploaderError(Refusal):
    """A refusal by the Uploader."""


class ContentNotFound(UploaderError):
    status = grpc.StatusCode.NOT_FOUND


class ProfileNotFound(UploaderError):
    status = grpc.StatusCode.NOT_FOUND


class WrongState(UploaderError):
    status = grpc.StatusCode.FAILED_PRECONDITION


class OverDailyCap(UploaderError):
    """More posts than Upload-Post's daily cap for the platform would allow."""

    status = grpc.StatusCode.FAILED_PRECONDITION


class NoFreeSlot(UploaderError):
    """The Allocator has no free slot for the content within its horizon."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED


class AllocatorUnavailable(UploaderError):
    """The Allocator could not be reached; safe to retry."""

    status = grpc.StatusCode.UNAVAILABLE


class AllocatorRefused(UploaderError):
    """The Allocator answered with a status that asking again will not change (a wrong token,
    a request it does not take): a person must act."""

    status = grpc.StatusCode.FAILED_PRECONDITION
