"""The event log's vocabulary: the types of event both services write, which moves of the
content lifecycle they tell of, and the cursor that names a place in the log (opaque to callers;
here, the writing transaction's id and the row's place within it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from queuelabs.lifecycle import Event


class EventType(StrEnum):
    CONTENT_ASSIGNED = "content.assigned"
    CONTENT_MOVED = "content.moved"
    CONTENT_RELEASED = "content.released"
    UPLOAD_RETRYING = "upload.retrying"
    UPLOAD_PUBLISHED = "upload.published"
    UPLOAD_FAILED = "upload.failed"
    UPLOAD_CANCELLED = "upload.cancelled"
    WEBHOOK_ENDPOINT_DISABLED = "webhook.endpoint_disabled"
    UPLOAD_PROCESSING = "upload.processing"
    ACCOUNT_RECONNECT_REQUIRED = "account.reconnect_required"
    ACCOUNT_RECONNECTED = "account.reconnected"
    # A booked content's post changed (UpdateContent): which fields, and its new revision. No
    # lifecycle move: its state and slot stay as they were.
    CONTENT_UPDATED = "content.updated"


# Which moves of the content lifecycle a caller is told of, and as which type. None: a move
# inside the services that changes nothing a caller acts on (a claim, a look-up or an ask put
# off, an outcome become unknown, a claim handed back); what follows it is told instead. Every
# lifecycle event has its entry, so a new one must decide (tests/test_event_log.py). The SQL
# that carries out a move writes its event in the same statement, the type named `{told}`
# (queuelabs/sql.py). Two changes are no lifecycle event: a content's first slot
# # (`content.assigned`) and a release CancelUpload asked for (`upload.cancelled`). The
# `account.*` types tell of a social account, not a content: profile and platform, no content.
TOLD: dict[Event, EventType | None] = {
    Event.RESCHEDULE: EventType.CONTENT_MOVED,
    Event.RELEASE: EventType.CONTENT_RELEASED,
    Event.CLAIM: None,
    Event.CLAIM_TO_RECONCILE: None,
    Event.CLAIM_TO_MOVE: None,
    Event.CLAIM_TO_POLL: None,
    Event.HAND_BACK: None,
    Event.SUCCEED: EventType.UPLOAD_PUBLISHED,
    Event.RETRY_LATER: EventType.UPLOAD_RETRYING,
    Event.AWAIT: EventType.UPLOAD_PROCESSING,  # Upload-Post took the job and is at work on it
    Event.LOSE_TRACK: None,  # reconciled: published, retrying or failed follows
    Event.CHECK_LATER: None,
    Event.POLL_LATER: None,
    # Back to its slot, held: the account's own event (account.reconnect_required) tells why.
    Event.WAIT_FOR_ACCOUNT: None,
    Event.NEED_SLOT: None,  # the Allocator's move follows (content.moved), or upload.failed
    Event.ASK_SLOT_LATER: None,
    Event.FAIL: EventType.UPLOAD_FAILED,
}


def told(event: Event) -> EventType | None:
    """The type of event a caller is told `event` as; None when it is not told."""
    return TOLD[event]


# Width of each half of a cursor in hex digits: both are 64-bit, so cursors of any age have one
# length and sort as strings in the order they sort as positions.
_HALF = 16


@dataclass(frozen=True, order=True)
class Cursor:
    """A place in the log: everything at or before it has been seen."""

    xid: int
    seq: int

    def __str__(self) -> str:
        return f"{self.xid:0{_HALF}x}{self.seq:0{_HALF}x}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor a caller handed back; "0" is the start of the log. ValueError otherwise."""
        if text == "0":
            return START
        if len(text) != 2 * _HALF:
            raise ValueError("is not a cursor this service gave out")
        try:
            return cls(int(text[:_HALF], 16), int(text[_HALF:], 16))
        except ValueError:
            raise ValueError("is not a cursor this service gave out") from None


START = Cursor(0, 0)
