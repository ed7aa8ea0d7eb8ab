"""The content state machine: every state a content can be in and every event that moves it.

This is the one place that says which moves are allowed and which states belong together; the
Allocator, the Uploader and their SQL ask it instead of deciding for themselves (the SQL through
the state lists `queuelabs/sql.py` fills in from the sets below). The README draws this machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class ContentState(StrEnum):
    """A content's state, as stored in `contents.status`."""

    SCHEDULED = "scheduled"  # assigned to a slot, waiting for it
    UPLOADING = "uploading"  # claimed by an uploader, the publish call in flight
    RETRY_PENDING = "retry_pending"  # a retryable failure; next try at next_retry_at
    UNKNOWN_OUTCOME = "unknown_outcome"  # the call may have published: reconcile before retrying
    PROCESSING = "processing"  # Upload-Post took the job and is publishing it: hear or ask how
    AWAITING_SLOT = "awaiting_slot"  # retries ran out or its slot was missed: needs a new slot
    UPLOADED = "uploaded"  # published, exactly once
    FAILED = "failed"  # gave up, with a reason a person can act on
    REMOVED = "removed"  # released from its slot through the Allocator (CancelUpload too)


class Event(StrEnum):
    """What happens to a content."""

    RESCHEDULE = "reschedule"  # the Allocator moves it to another slot (or back in line)
    RELEASE = "release"  # the Allocator frees its slot for good
    CLAIM = "claim"  # an uploader takes it to publish
    CLAIM_TO_RECONCILE = "claim to reconcile"  # an uploader takes it to look up a lost call
    CLAIM_TO_MOVE = "claim to move"  # an uploader takes it to ask the Allocator for a slot
    CLAIM_TO_POLL = "claim to poll"  # an uploader takes it to see how Upload-Post's job went
    HAND_BACK = "hand back"  # an uploader shutting down returns a claim it had not acted on
    SUCCEED = "succeed"  # Upload-Post says it is published
    RETRY_LATER = "retry later"  # a retryable failure, or reconciliation found nothing
    AWAIT = "await result"  # Upload-Post took the job (async mode, or found at work on it)
    LOSE_TRACK = "lose track"  # 504, read timeout, dropped connection, expired lease
    CHECK_LATER = "check later"  # reconciliation learned nothing final yet
    POLL_LATER = "poll later"  # Upload-Post's job is still at work (or its status unreadable)
    WAIT_FOR_ACCOUNT = "wait for the account"  # the social account must be reconnected first
    NEED_SLOT = "need a slot"  # retries ran out, or its slot was missed by too much
    ASK_SLOT_LATER = "ask for a slot later"  # the Allocator could not be asked: again later
    FAIL = "fail"  # a permanent failure; retries ran out (policy: fail); no slot to be had


_S = ContentState
# event: (the states it may happen in, the state it leads to)
TRANSITIONS: dict[Event, tuple[frozenset[ContentState], ContentState]] = {
    Event.RESCHEDULE: (
        frozenset({_S.SCHEDULED, _S.RETRY_PENDING, _S.AWAITING_SLOT, _S.FAILED}),
        _S.SCHEDULED,
    ),
    Event.RELEASE: (
        frozenset({_S.SCHEDULED, _S.RETRY_PENDING, _S.AWAITING_SLOT, _S.FAILED}),
        _S.REMOVED,
    ),
    Event.CLAIM: (frozenset({_S.SCHEDULED, _S.RETRY_PENDING}), _S.UPLOADING),
    # The two claims that call nothing keep their state: the lease (and next_retry_at pushed to
    # its end) is what keeps other workers off while this one looks or asks.
    Event.CLAIM_TO_RECONCILE: (frozenset({_S.UNKNOWN_OUTCOME}), _S.UNKNOWN_OUTCOME),
    Event.CLAIM_TO_MOVE: (frozenset({_S.AWAITING_SLOT}), _S.AWAITING_SLOT),
    Event.CLAIM_TO_POLL: (frozenset({_S.PROCESSING}), _S.PROCESSING),
    Event.HAND_BACK: (frozenset({_S.UPLOADING}), _S.SCHEDULED),
    Event.SUCCEED: (frozenset({_S.UPLOADING, _S.UNKNOWN_OUTCOME, _S.PROCESSING}), _S.UPLOADED),
    Event.RETRY_LATER: (
        frozenset({_S.UPLOADING, _S.UNKNOWN_OUTCOME, _S.PROCESSING}),
        _S.RETRY_PENDING,
    ),
    # Upload-Post has the job: an answer "accepted", or a lost call found at work.
    Event.AWAIT: (frozenset({_S.UPLOADING, _S.UNKNOWN_OUTCOME}), _S.PROCESSING),
    # Never straight back to scheduled: the call may have gone through (invariant 4).
    Event.LOSE_TRACK: (frozenset({_S.UPLOADING}), _S.UNKNOWN_OUTCOME),
    Event.CHECK_LATER: (frozenset({_S.UNKNOWN_OUTCOME}), _S.UNKNOWN_OUTCOME),
    Event.POLL_LATER: (frozenset({_S.PROCESSING}), _S.PROCESSING),
    # Nothing was published and the account is dead: back to its slot, held until reconnected
    # (or until the slot passes: then the missed-slot path asks for a new one).
    Event.WAIT_FOR_ACCOUNT: (
        frozenset({_S.UPLOADING, _S.UNKNOWN_OUTCOME, _S.PROCESSING}),
        _S.SCHEDULED,
    ),
    Event.NEED_SLOT: (
        frozenset({_S.UPLOADING, _S.UNKNOWN_OUTCOME, _S.PROCESSING}),
        _S.AWAITING_SLOT,
    ),
    Event.ASK_SLOT_LATER: (frozenset({_S.AWAITING_SLOT}), _S.AWAITING_SLOT),
    Event.FAIL: (
        frozenset({_S.UPLOADING, _S.UNKNOWN_OUTCOME, _S.PROCESSING, _S.AWAITING_SLOT}),
        _S.FAILED,
    ),
}


def sources(event: Event) -> frozenset[ContentState]:
    """The states `event` may happen in."""
    return TRANSITIONS[event][0]


def target(event: Event) -> ContentState:
    """The state `event` leads to."""
    return TRANSITIONS[event][1]


# The ways an uploader takes a due content, and the states they take it from: the content that
# waits for the Uploader ("in line"), as the `contents_due` partial index covers it.
CLAIMS: tuple[Event, ...] = (
    Event.CLAIM,
    Event.CLAIM_TO_RECONCILE,
    Event.CLAIM_TO_POLL,
    Event.CLAIM_TO_MOVE,
)
IN_LINE: frozenset[ContentState] = frozenset().union(*(sources(e) for e in CLAIMS))

# States under a lease that can expire mid-call: what the rescuer looks at.
LEASED: frozenset[ContentState] = sources(Event.LOSE_TRACK)

# States that hold their slot: at most one such content per (profile, platform, instant). The
# partial unique index `contents_one_active_per_slot` repeats this set; a test keeps them equal.
SLOT_HOLDING: frozenset[ContentState] = IN_LINE | {_S.UPLOADING}

# States whose instant is spent: never offered to another content by the Allocator's inventory.
# A content published (or failed) ahead of its slot keeps the slot's instant used up.
SPENDS_SLOT: frozenset[ContentState] = SLOT_HOLDING | {_S.UPLOADED, _S.FAILED}

# States in which a call to Upload-Post may be out for the content: Upload-Post's word on a job
# (its webhook) is looked for among these. The partial index `contents_on_a_job` repeats this set.
ON_A_JOB: frozenset[ContentState] = frozenset({_S.UPLOADING, _S.PROCESSING, _S.UNKNOWN_OUTCOME})

# States a content waits in, unheld, for a look at an Upload-Post job (a poll, a reconciliation):
# Upload-Post's word on the job (its webhook) answers that look.
WAITING_ON_A_JOB: frozenset[ContentState] = sources(Event.CLAIM_TO_POLL) | sources(
    Event.CLAIM_TO_RECONCILE
)

# What an operator's RetryUpload may put back in line: what gave up, nothing still in line.
RETRYABLE_BY_HAND: frozenset[ContentState] = frozenset({_S.FAILED})

# States in which UpdateContent may change a content's post (title, caption, media, options):
# before any call to Upload-Post was made for it. Not once a try was made (uploading, retry
# pending, unknown outcome, processing, or later): a retry reuses the first try's idempotency
# key, so Upload-Post may answer it from the first try's request and silently drop the edit, and
# a try that went through cannot be changed at all. `awaiting_slot` is in: its tries ran out or
# its slot was missed, and the next try is a fresh start in a new slot. Edits lock the content's
# row, so an Uploader's claim (which moves it out of these states) and an edit never interleave.
EDITABLE: frozenset[ContentState] = frozenset({_S.SCHEDULED, _S.AWAITING_SLOT})

FINAL: frozenset[ContentState] = frozenset({_S.UPLOADED, _S.REMOVED})

# What retention may delete once old enough (queuelabs/retention.py): done with, one way or the
# other. The partial index `contents_finished` (migration 0006) repeats this set.
FINISHED: frozenset[ContentState] = frozenset({_S.UPLOADED, _S.FAILED, _S.REMOVED})


def needs_one_of(
    subject: str, current: ContentState, action: str, allowed: Iterable[ContentState]
) -> str:
    """Why `action` cannot happen to `subject` (a content, named as the caller likes) in state
    `current`, and the states it could happen in: every such refusal reads the same."""
    listed = ", ".join(sorted(s.value for s in allowed))
    return f"{subject} is {current.value}; {action} needs one of: {listed}"


class IllegalMove(Exception):
    """An event that cannot happen to a content in its current state."""

    def __init__(self, current: ContentState, event: Event) -> None:
        super().__init__(needs_one_of("content", current, event.value, sources(event)))
        self.current = current
        self.event = event


def next_state(current: ContentState, event: Event) -> ContentState:
    """The state `event` leads to from `current`; IllegalMove if it cannot happen there."""
    if current not in sources(event):
        raise IllegalMove(current, event)
    return target(event)
