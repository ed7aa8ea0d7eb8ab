"""The content state machine: every state a content can be in and every event that moves it.

This is the one place that says which moves are allowed; the Allocator and the Uploader ask it
instead of deciding for themselves. The README draws the same machine.
"""

from __future__ import annotations

from enum import StrEnum


class ContentState(StrEnum):
    """A content's state, as stored in `contents.status`."""

    SCHEDULED = "scheduled"  # assigned to a slot, waiting for it
    UPLOADING = "uploading"  # claimed by an uploader, the publish call in flight
    RETRY_PENDING = "retry_pending"  # a retryable failure; next try at next_retry_at
    UNKNOWN_OUTCOME = "unknown_outcome"  # the call may have published: reconcile before retrying
    UPLOADED = "uploaded"  # published, exactly once
    FAILED = "failed"  # gave up, with a reason a person can act on
    CANCELLED = "cancelled"  # an operator said never publish
    REMOVED = "removed"  # released from its slot through the Allocator


class Event(StrEnum):
    """What happens to a content."""

    RESCHEDULE = "reschedule"  # the Allocator moves it to another slot (or back in line)
    RELEASE = "release"  # the Allocator frees its slot for good
    CLAIM = "claim"  # an uploader takes it to publish
    HAND_BACK = "hand back"  # an uploader shutting down returns it untouched
    SUCCEED = "succeed"  # Upload-Post says it is published
    RETRY_LATER = "retry later"  # a retryable failure, or reconciliation found nothing
    AWAIT = "await result"  # Upload-Post took the job in async mode: poll its status
    LOSE_TRACK = "lose track"  # 504, read timeout, dropped connection, expired lease
    CHECK_LATER = "check later"  # reconciliation learned nothing final yet
    FAIL = "fail"  # a permanent failure, or retries ran out
    CANCEL = "cancel"  # an operator says never publish


_S = ContentState
# event: (the states it may happen in, the state it leads to)
TRANSITIONS: dict[Event, tuple[frozenset[ContentState], ContentState]] = {
    Event.RESCHEDULE: (frozenset({_S.SCHEDULED, _S.RETRY_PENDING, _S.FAILED}), _S.SCHEDULED),
    Event.RELEASE: (frozenset({_S.SCHEDULED, _S.RETRY_PENDING, _S.FAILED}), _S.REMOVED),
    Event.CLAIM: (frozenset({_S.SCHEDULED, _S.RETRY_PENDING}), _S.UPLOADING),
    Event.HAND_BACK: (frozenset({_S.UPLOADING}), _S.SCHEDULED),
    Event.SUCCEED: (frozenset({_S.UPLOADING, _S.UNKNOWN_OUTCOME}), _S.UPLOADED),
    Event.RETRY_LATER: (frozenset({_S.UPLOADING, _S.UNKNOWN_OUTCOME}), _S.RETRY_PENDING),
    Event.AWAIT: (frozenset({_S.UPLOADING}), _S.UNKNOWN_OUTCOME),
    # Never straight back to scheduled: the call may have gone through (invariant 4).
    Event.LOSE_TRACK: (frozenset({_S.UPLOADING}), _S.UNKNOWN_OUTCOME),
    Event.CHECK_LATER: (frozenset({_S.UNKNOWN_OUTCOME}), _S.UNKNOWN_OUTCOME),
    Event.FAIL: (
        frozenset({_S.SCHEDULED, _S.UPLOADING, _S.UNKNOWN_OUTCOME, _S.RETRY_PENDING}),
        _S.FAILED,
    ),
    Event.CANCEL: (frozenset({_S.SCHEDULED, _S.RETRY_PENDING, _S.FAILED}), _S.CANCELLED),
}

# States that hold their slot: at most one such content per (profile, platform, instant). The
# partial unique index `contents_one_active_per_slot` repeats this set; a test keeps them equal.
SLOT_HOLDING: frozenset[ContentState] = frozenset(
    {_S.SCHEDULED, _S.UPLOADING, _S.RETRY_PENDING, _S.UNKNOWN_OUTCOME}
)

# States whose instant is spent: never offered to another content by the Allocator's inventory.
# A content published (or failed) ahead of its slot keeps the slot's instant used up.
SPENDS_SLOT: frozenset[ContentState] = SLOT_HOLDING | {_S.UPLOADED, _S.FAILED}

FINAL: frozenset[ContentState] = frozenset({_S.UPLOADED, _S.CANCELLED, _S.REMOVED})


class IllegalMove(Exception):
    """An event that cannot happen to a content in its current state."""

    def __init__(self, current: ContentState, event: Event) -> None:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[event][0]))
        super().__init__(f"content is {current.value}; {event.value} needs one of: {allowed}")
        self.current = current
        self.event = event


def next_state(current: ContentState, event: Event) -> ContentState:
    """The state `event` leads to from `current`; IllegalMove if it cannot happen there."""
    sources, target = TRANSITIONS[event]
    if current not in sources:
        raise IllegalMove(current, event)
    return target
