"""The event log's vocabulary: the types of event both services write, and the cursor that
names a place in the log (opaque to callers; here, the writing transaction's id and the row's
place within it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    CONTENT_ASSIGNED = "content.assigned"
    CONTENT_MOVED = "content.moved"
    CONTENT_RELEASED = "content.released"
    UPLOAD_RETRYING = "upload.retrying"
    UPLOAD_PUBLISHED = "upload.published"
    UPLOAD_FAILED = "upload.failed"
    UPLOAD_CANCELLED = "upload.cancelled"
    WEBHOOK_ENDPOINT_DISABLED = "webhook.endpoint_disabled"


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
