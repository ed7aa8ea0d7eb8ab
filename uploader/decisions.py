"""Every event an Uploader content can take is chosen here, by pure functions of what is known:
the claimed content, its platform's policy, Upload-Post's answer and the clock's reading. No I/O:
the publisher carries out what these return and decides nothing itself.

The moments a choice is made, in a content's order:
- `on_claim`: a worker took the content; publish it, look it up, or move it.
- `after_call`: Upload-Post answered a publish or a status look-up (or did not), or its webhook
  had already told how the job went.
- `poll_backoff`: how much later than the policy says to look, while webhooks arrive.
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
from enum import StrEnum

from queuelabs.lifecycle import ContentState, Event
from uploader.domain import AttemptKind, Claimed
from uploader.outcomes import CallResult, Outcome
from uploader.policies import RetryPolicy, WhenExhausted, retry_delay

# A daily cap's refusal that says nothing of when a place frees: look again after this long.
CAP_WAIT_UNKNOWN = 3600.0

# How long to wait before asking an unreachable Allocator again.
ALLOCATOR_BACKOFF = timedelta(seconds=30)

# While Upload-Post's webhooks arrive (one told of a job within WEBHOOKS_HEARD_WITHIN), a job's
# status is looked at POLL_BACKOFF times less often: the webhook settles it first, and the
# look-ups, paid from the same plan as the posts, are the fallback for a webhook lost.
WEBHOOKS_HEARD_WITHIN = timedelta(minutes=10)
POLL_BACKOFF = 12.0


class Hold(StrEnum):
    """What an answer says of the social account, beyond this content: every content of the
    account waits."""

    RECONNECT = "reconnect"  # its token is dead: until reconnected (or an operator's resume)
    DAILY_CAP = "daily cap"  # its daily cap is full: until the decision's next_retry_at


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
    job: str = ""  # Upload-Post's id of the job the content now waits on (AWAIT)
    hold: Hold | None = None  # the account waits too
    # When the answer that holds the account was true: the call's start, not the moment it was
    # read (a late look must not undo a reconnection Upload-Post told of since).
    hold_as_of: datetime | None = None


def on_claim(claimed: Claimed, now: datetime, max_lateness: timedelta) -> AttemptKind | Decision:
    """What a freshly claimed content is due for: a call to Upload-Post (of that kind), or a
    move."""
    if claimed.previous_state in (ContentState.UNKNOWN_OUTCOME, ContentState.PROCESSING):
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
    backoff: float = 1.0,
) -> Decision:
    """The move after Upload-Post's answer to a publish (or, `reconciling`, to a look-up of the
    call made at `call_started`). `backoff`: poll_backoff's factor for the next look."""
    count, generation = claimed.retry_count, claimed.generation
    processing = claimed.previous_state is ContentState.PROCESSING
    match result.outcome:
        case Outcome.PUBLISHED:
            return Decision(Event.SUCCEED, count, None, generation)
        case Outcome.ACCEPTED:
            first = now + _seconds(policy.poll_first * backoff)
            return Decision(Event.AWAIT, count, first, generation, job=result.request_id)
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
        case Outcome.UNKNOWN if processing:
            # The job was accepted: an unreadable status leaves it Upload-Post's, at work.
            next_look = now + _seconds(policy.poll_every * backoff)
            return Decision(
                Event.POLL_LATER, count, next_look, generation, result.error, job=result.request_id
            )
        case Outcome.UNKNOWN:
            event = Event.CHECK_LATER if reconciling else Event.LOSE_TRACK
            wait = policy.poll_every if reconciling else policy.poll_first
            return Decision(event, count, now + _seconds(wait), generation, result.error)
        case Outcome.PENDING:
            # Upload-Post has the job at work: a lost call found so is an accepted job now.
            event = Event.POLL_LATER if processing else Event.AWAIT
            next_look = now + _seconds(policy.poll_every * backoff)
            return Decision(event, count, next_look, generation, job=result.request_id)
        case Outcome.NOT_FOUND:
            # Never arrived: a retryable failure, under the same key (should the call surface
            # after all, Upload-Post answers with it instead of posting again).
            gone = CallResult(Outcome.RETRYABLE, error="Upload-Post has no record of the call")
            return _retry(gone, claimed, policy, now)
        case Outcome.RETRYABLE:
            return _retry(result, claimed, policy, now)
        case Outcome.FAILED:
            return Decision(Event.FAIL, count, None, generation, result.error)
        case Outcome.RECONNECT:
            # Not this content's fault, nor a try of its retries: it waits for the account,
            # under a new key (the job ended), and so does every content of the account.
            reason = f"the {claimed.platform.value} account must be reconnected: {result.error}"
            return Decision(
                Event.WAIT_FOR_ACCOUNT,
                count,
                None,
                generation + 1,
                reason,
                hold=Hold.RECONNECT,
                hold_as_of=call_started,
            )
        case Outcome.CAPPED:
            # Nothing was made (refused before a job): same key, no retry counted; the account
            # waits until its rolling window frees a place.
            frees = now + _seconds(result.retry_after or CAP_WAIT_UNKNOWN)
            reason = f"the account's daily cap is full until {frees.isoformat()}: {result.error}"
            return Decision(
                Event.RETRY_LATER, count, frees, generation, reason, hold=Hold.DAILY_CAP
            )
    raise AssertionError(f"unhandled outcome {result.outcome}")


def poll_backoff(
    last_notice: datetime | None, now: datetime, listening_since: datetime | None = None
) -> float:
    """How many times the policy's polling gaps to wait: POLL_BACKOFF while Upload-Post's
    webhooks arrive (the last told of a job within WEBHOOKS_HEARD_WITHIN), else 1. A replica
    that started its receiver at `listening_since` expects them from then on: for that long it
    backs off before the first is heard (a herd's first jobs are not all polled), and should
    none come it polls as often as ever once that time has passed."""
    heard = max((t for t in (last_notice, listening_since) if t is not None), default=None)
    return POLL_BACKOFF if heard is not None and now - heard < WEBHOOKS_HEARD_WITHIN else 1.0


def most_telling(findings: Sequence[CallResult]) -> CallResult:
    """Of the answers about several calls under one key: published if any says so, else still
    running, else unreadable, else ended without publishing (a dead account first: it says
    more), else unknown to Upload-Post."""
    wanted_in_turn = (
        Outcome.PUBLISHED,
        Outcome.PENDING,
        Outcome.UNKNOWN,
        Outcome.RECONNECT,
        Outcome.RETRYABLE,
    )
    for wanted in wanted_in_turn:
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
        case ContentState.PROCESSING:
            event = Event.POLL_LATER
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
