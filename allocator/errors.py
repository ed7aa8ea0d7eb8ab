"""Every way an Allocator call can be refused, and the one gRPC status each maps to."""

from __future__ import annotations

import grpc

from queuelabs.errors import DatabaseUnavailable, InvalidArgument, Refusal

# Shared by both services; re-exported for this one's callers.
__all__ = ["DatabaseUnavailable", "InvalidArgument"]


class AllocatorError(Refusal):
    """A refusal by the Allocator."""


class ProfileNotFound(AllocatorError):
    status = grpc.StatusCode.NOT_FOUND
    reason = "PROFILE_NOT_FOUND"


class ScheduleNotFound(AllocatorError):
    status = grpc.StatusCode.NOT_FOUND
    reason = "SCHEDULE_NOT_FOUND"


class ContentNotFound(AllocatorError):
    status = grpc.StatusCode.NOT_FOUND
    reason = "CONTENT_NOT_FOUND"


class NoSchedule(AllocatorError):
    """Content cannot be placed: its (profile, platform) has no slots."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    reason = "NO_SCHEDULE"


class OverDailyCap(AllocatorError):
    """More posts than Upload-Post's daily cap for the platform would allow."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    reason = "OVER_DAILY_CAP"


class WrongState(AllocatorError):
    """The content's lifecycle state does not allow the call (e.g. releasing an uploaded one)."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    reason = "WRONG_STATE"


class ContentIdInUse(AllocatorError):
    """The content id is already taken by another profile, platform or payload."""

    status = grpc.StatusCode.ALREADY_EXISTS
    reason = "CONTENT_ID_REUSED"


class NoFreeSlot(AllocatorError):
    """No free slot inside the search horizon."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "NO_FREE_SLOT"


class SlotTaken(AllocatorError):
    """MoveContent: another content holds (or has spent) the slot instant asked for."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    reason = "SLOT_TAKEN"


class RevisionMismatch(AllocatorError):
    """UpdateContent: the content is no longer at the revision the caller expected (another
    change came first); read it again (GetContent) and decide."""

    status = grpc.StatusCode.ABORTED
    reason = "REVISION_MISMATCH"
