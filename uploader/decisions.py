"""What to do after a call to Upload-Post: one pure function from the call's outcome, the
content and its platform's policy to the content's next state. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from queuelabs.lifecycle import Event
from uploader.domain import Claimed
from uploader.policies import RetryPolicy, WhenExhausted, retry_delay
from uploader.upload_post import CallResult, Outcome

# How long to wait before asking an unreachable Allocator again.
ALLOCATOR_BACKOFF = timedelta(seconds=30)


@dataclass(frozen=True)
class Decision:
    event: Event
    retry_count: int
    next_retry_at: datetime | None
    generation: int
    reason: str = ""
    reschedule: bool = False  # after settling, ask the Allocator for a new slot


def decide(
    result: CallResult,
    claimed: Claimed,
    policy: RetryPolicy,
    now: datetime,
    *,
    reconciling: bool,
    call_started: datetime,
) -> Decision:
    count, generation = claimed.retry_count, claimed.generation
    match result.outcome:
        case Outcome.PUBLISHED:
            return Decision(Event.SUCCEED, count, None, generation)
        case Outcome.ACCEPTED:
            return Decision(Event.AWAIT, count, now + _seconds(policy.poll_first), generation)
        case Outcome.UNKNOWN | Outcome.PENDING if reconciling and now - call_started >= _seconds(
            policy.poll_give_up
        ):
            # The post may exist: never try again blindly. A person checks the platform, then
            # uses RetryUpload if it is not there.
            what = "still pending at" if result.outcome is Outcome.PENDING else "unknown to"
            reason = (
                f"outcome {what} Upload-Post {policy.poll_give_up:.0f} s after the call "
                f"({result.error or 'no detail'}); check the platform before RetryUpload"
            )
            return Decision(Event.FAIL, count, None, generation, reason)
        case Outcome.UNKNOWN:
            event = Event.CHECK_LATER if reconciling else Event.LOSE_TRACK
            wait = policy.poll_every if reconciling else policy.poll_first
            return Decision(event, count, now + _seconds(wait), generation, result.error)
        case Outcome.PENDING:
            return Decision(Event.CHECK_LATER, count, now + _seconds(policy.poll_every), generation)
        case Outcome.NOT_FOUND:
            gone = CallResult(Outcome.RETRYABLE, error="Upload-Post has no record of the call")
            return _retry(gone, claimed, policy, now)
        case Outcome.RETRYABLE:
            return _retry(result, claimed, policy, now)
        case Outcome.FAILED:
            return Decision(Event.FAIL, count, None, generation, result.error)
    raise AssertionError(f"unhandled outcome {result.outcome}")


def _retry(result: CallResult, claimed: Claimed, policy: RetryPolicy, now: datetime) -> Decision:
    generation = claimed.generation + 1 if result.job_ended else claimed.generation
    delay = retry_delay(policy, claimed.retry_count, result.retry_after)
    if delay is not None:
        return Decision(
            Event.RETRY_LATER,
            claimed.retry_count + 1,
            now + _seconds(delay),
            generation,
            result.error,
        )
    reason = f"gave up after {claimed.retry_count} retries; last: {result.error}"
    if policy.when_exhausted is WhenExhausted.RESCHEDULE:
        # Counted past the ladder, so a claim that finds it knows it waits for a new slot.
        return Decision(
            Event.RETRY_LATER,
            claimed.retry_count + 1,
            now + ALLOCATOR_BACKOFF,
            generation,
            reason,
            reschedule=True,
        )
    return Decision(Event.FAIL, claimed.retry_count, None, generation, reason)


def exhausted(policy: RetryPolicy, retry_count: int) -> bool:
    """Whether a content has failed past its ladder (retry_count counts retryable failures)."""
    return retry_count > len(policy.retry_delays)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
