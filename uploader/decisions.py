"""Every event an Uploader content can take is chosen here, by pure functions of what is known:
the claimed content, its platform's policy, Upload-Post's answer and the clock's reading. No I/O:
the publisher carries out what these return and decides nothing itself.

The moments a choice is made, in a content's order:
- `on_claim`: a worker took the content; publish it, reconcile it, or move it.
- `after_call`: Upload-Post answered a publish or a status look-up (or did not).
- `most_telling`: reconciliation looked up several calls; which answer counts.
- `nothing_sent`: reconciliation found no call under the current key.
- `already_published`: a success record exists, so nothing is sent.
- `allocator_away`: the Allocator could not be asked for a new slot.
- `slot_refused`: the Allocator would not give a new slot.
- `at_shutdown`: the worker stops with the claim still in hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from queuelabs.lifecycle import ContentState, Event
from uploader.domain import AttemptKind, Claimed
from uploader.outcomes import CallResult, Outcome
from uploader.policies import RetryPolicy, WhenExhausted, retry_delay

# How long to wait before asking an unreachable Allocator again.
ALLOCATOR_BACKOFF = timedelta(seconds=30)


@dataclass(frozen=True)
class Decision:
    """A move of the content, with what it carries. `ask_for_slot`: once settled, keep holding
    the content and ask the Allocator for a new slot. `tell`: write the move's event, if callers
    are told of such a move (queuelabs/events.TOLD)."""

    event: Event
    retry_count: int
    next_retry_at: datetime | None
    generation: int
    reason: str = ""
    ask_for_slot: bool = False
    tell: bool = True


def on_claim(claimed: Claimed, now: datetime, max_lateness: timedelta) -> AttemptKind | Decision:
    """What a freshly claimed content is due for: a call to Upload-Post (of that kind), or a
    move."""
    if claimed.previous_state is ContentState.UNKNOWN_OUTCOME:
        return AttemptKind.RECONCILE
    if claimed.previous_state is ContentState.AWAITING_SLOT:
        # The Allocator could not be asked before: ask again.
        return _need_slot(claimed, Event.ASK_SLOT_LATER, now, claimed.reason)
    late = now - claimed.scheduled_at
    if (
        claimed.previous_state is ContentState.SCHEDULED
        and not claimed.upload_now
        and late > max_lateness
    ):
        return _need_slot(claimed, Event.NEED_SLOT, now, f"missed its slot by {late}")
    return AttemptKind.PUBLISH


def after_call(
    result: CallResult,
    claimed: Claimed,
    policy: RetryPolicy,
    now: datetime,
    *,
    reconciling: bool,
    call_started: datetime,
) -> Decision:
    """The move after Upload-Post's answer to a publish (or, `reconciling`, to a look-up of the
    call made at `call_started`)."""
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
            # Never arrived: a retryable failure, under the same key (should the call surface
            # after all, Upload-Post answers with it instead of posting again).
            gone = CallResult(Outcome.RETRYABLE, error="Upload-Post has no record of the call")
            return _retry(gone, claimed, policy, now)
        case Outcome.RETRYABLE:
            return _retry(result, claimed, policy, now)
        case Outcome.FAILED:
            return Decision(Event.FAIL, count, None, generation, result.error)
    raise AssertionError(f"unhandled outcome {result.outcome}")


def most_telling(findings: Sequence[CallResult]) -> CallResult:
    """Of the answers about several calls under one key: published if any says so, else still
    running, else unreadable, else ended without publishing, else unknown to Upload-Post."""
    for wanted in (Outcome.PUBLISHED, Outcome.PENDING, Outcome.UNKNOWN, Outcome.RETRYABLE):
        for found in findings:
            if found.outcome is wanted:
                return found
    return findings[0]


def nothing_sent(claimed: Claimed, policy: RetryPolicy, now: datetime) -> Decision:
    """No call was made under the current key (a worker stopped before its first): as if
    Upload-Post had no record of one, which makes it safe to send."""
    nothing = CallResult(Outcome.NOT_FOUND, error="no call was made")
    return after_call(nothing, claimed, policy, now, reconciling=True, call_started=now)


def already_published(claimed: Claimed) -> Decision:
    """A success record exists (a lost answer, found since): settle, never send again."""
    return Decision(Event.SUCCEED, claimed.retry_count, None, claimed.generation)


def allocator_away(claimed: Claimed, why: str, now: datetime) -> Decision:
    """The Allocator did not answer: let go, and ask again after the backoff."""
    return Decision(
        Event.ASK_SLOT_LATER, claimed.retry_count, now + ALLOCATOR_BACKOFF, claimed.generation, why
    )


def slot_refused(claimed: Claimed, why: str, refusal: str) -> Decision:
    """The Allocator answered no (no slots, none free in the horizon): a person must act, so
    fail with both reasons instead of asking again forever."""
    reason = f"needed a new slot ({why}) but the Allocator refused: {refusal}"
    return Decision(Event.FAIL, claimed.retry_count, None, claimed.generation, reason)


def at_shutdown(claimed: Claimed, interrupted: Sequence[AttemptKind], now: datetime) -> Decision:
    """Hands a claim back so that no lease is left to expire. `interrupted` holds the kinds of
    the calls cut short. Nothing is told: the content is back where a caller last saw it (a
    retry pending goes back to pending, not to a new retry)."""
    match claimed.previous_state:
        case ContentState.UNKNOWN_OUTCOME:
            event = Event.CHECK_LATER
        case ContentState.AWAITING_SLOT:
            event = Event.ASK_SLOT_LATER
        case _ if AttemptKind.PUBLISH in interrupted:
            event = Event.LOSE_TRACK  # it may have gone out: reconcile, never re-send blindly
        case ContentState.RETRY_PENDING:
            event = Event.RETRY_LATER  # back where it was, its retries counted as they were
        case _:
            event = Event.HAND_BACK
    return Decision(
        event, claimed.retry_count, now, claimed.generation, "handed back at shutdown", tell=False
    )


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
        return _need_slot(claimed, Event.NEED_SLOT, now, reason, generation)
    return Decision(Event.FAIL, claimed.retry_count, None, generation, reason)


def _need_slot(
    claimed: Claimed, event: Event, now: datetime, reason: str, generation: int | None = None
) -> Decision:
    """Wait for a new slot, asked for at once. Due again after ALLOCATOR_BACKOFF, so that should
    this worker vanish mid-ask, another asks instead (the ask is bounded well below that)."""
    return Decision(
        event,
        claimed.retry_count,
        now + ALLOCATOR_BACKOFF,
        claimed.generation if generation is None else generation,
        reason,
        ask_for_slot=True,
    )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
