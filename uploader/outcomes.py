"""What one answer from Upload-Post comes to: an Outcome and its details. Pure data, shared by
the adapter that sorts answers (upload_post.py) and the decisions that act on them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What an answer came to; also what a finished attempt stores in `upload_attempts.outcome`
    (beside uploader.domain.Unanswered, the ends without an answer)."""

    PUBLISHED = "published"  # Upload-Post says the post is live
    ACCEPTED = "accepted"  # async job started: poll its status
    PENDING = "pending"  # (status) the job is still running
    RETRYABLE = "retryable"  # nothing was published; trying again may work
    FAILED = "failed"  # nothing was published; trying again will not help
    UNKNOWN = "unknown"  # the call may have published: reconcile before any new try
    NOT_FOUND = "not_found"  # (status) Upload-Post has no such request
    RECONNECT = "reconnect"  # nothing was published: the social account must be reconnected
    CAPPED = "capped"  # nothing was published: the account's daily cap is full (retry_after)


@dataclass(frozen=True)
class CallResult:
    outcome: Outcome
    http_status: int = 0
    error: str = ""
    post_url: str = ""
    platform_post_id: str = ""
    retry_after: float | None = None  # seconds the server asked us to wait
    job_ended: bool = False  # Upload-Post says the job under this key ended without publishing
    request_id: str = ""  # the job's id in Upload-Post's answer (a deduplicated job keeps its own)
    # Upload-Post asks that nothing at all be sent for this many seconds (its window is used
    # up, or a 429 for the plan's rate): every replica waits.
    send_again_in: float | None = None
