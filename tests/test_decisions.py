"""Every choice the Uploader makes, pinned as a table: no database, no HTTP, no wall clock."""

from __future__ import annotations

import inspect
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from queuelabs.lifecycle import CLAIMS, ContentState, Event, next_state, sources, target
from queuelabs.platforms import MediaType, Platform
from uploader import decisions
from uploader.allocator_client import AllocatorGateway
from uploader.decisions import ALLOCATOR_BACKOFF, Decision
from uploader.domain import AttemptKind, Claimed
from uploader.outcomes import CallResult, Outcome
from uploader.policies import RetryPolicy, WhenExhausted

NOW = datetime(2026, 3, 26, 6, 0, tzinfo=UTC)
POLICY = RetryPolicy((30, 60, 120), async_upload=True, read_timeout=60)
S = ContentState


def claimed(state: ContentState = S.SCHEDULED, retries: int = 0, **changes) -> Claimed:
    base = Claimed(
        content_id=uuid4(),
        profile_id=uuid4(),
        platform=Platform.INSTAGRAM,
        upload_post_user="InfoKetua",
        media_type=MediaType.VIDEO,
        media_url="https://cdn.example.com/clip.mp4",
        title="Hello",
        description="",
        platform_options={},
        scheduled_at=NOW,
        previous_state=state,
        retry_count=retries,
        generation=1,
        upload_now=False,
    )
    return replace(base, **changes)


def seconds(n: float) -> datetime:
    return NOW + timedelta(seconds=n)


def state_while_held(previous: ContentState) -> ContentState:
    """The state a claimed content is in while its worker holds it."""
    claim = next(e for e in CLAIMS if previous in sources(e))
    return target(claim)


# outcome, previous state, retries so far -> event, retry count after, next look, reason contains
AFTER_A_PUBLISH = [
    (CallResult(Outcome.PUBLISHED, 200), 0, Event.SUCCEED, 0, None, ""),
    (CallResult(Outcome.ACCEPTED, 200, request_id="job"), 0, Event.AWAIT, 0, seconds(5), ""),
    (CallResult(Outcome.UNKNOWN, 504, "504"), 0, Event.LOSE_TRACK, 0, seconds(5), "504"),
    (CallResult(Outcome.UNKNOWN, 0, "timeout"), 2, Event.LOSE_TRACK, 2, seconds(5), "timeout"),
    (CallResult(Outcome.RETRYABLE, 500, "boom"), 0, Event.RETRY_LATER, 1, seconds(30), "boom"),
    (CallResult(Outcome.RETRYABLE, 502, "boom"), 1, Event.RETRY_LATER, 2, seconds(60), "boom"),
    (CallResult(Outcome.RETRYABLE, 503, "boom"), 2, Event.RETRY_LATER, 3, seconds(120), "boom"),
    (
        CallResult(Outcome.RETRYABLE, 500, "boom"),
        3,
        Event.NEED_SLOT,
        3,
        NOW + ALLOCATOR_BACKOFF,
        "gave up after 3 retries; last: boom",
    ),
    (
        CallResult(Outcome.RETRYABLE, 429, "slow down", retry_after=200),
        0,
        Event.RETRY_LATER,
        1,
        seconds(200),
        "slow down",
    ),
    (
        CallResult(Outcome.RETRYABLE, 429, "slow down", retry_after=1),
        1,
        Event.RETRY_LATER,
        2,
        seconds(60),
        "slow down",
    ),
    (CallResult(Outcome.FAILED, 400, "bad form"), 0, Event.FAIL, 0, None, "bad form"),
    (CallResult(Outcome.FAILED, 401, "bad key"), 2, Event.FAIL, 2, None, "bad key"),
]


@pytest.mark.parametrize(
    ("result", "retries", "event", "count", "next_at", "reason"), AFTER_A_PUBLISH
)
def test_after_a_publish(result, retries, event, count, next_at, reason):
    content = claimed(S.RETRY_PENDING if retries else S.SCHEDULED, retries)
    decision = decisions.after_call(
        result, content, POLICY, NOW, reconciling=False, call_started=NOW
    )
    assert (decision.event, decision.retry_count, decision.next_retry_at) == (
        event,
        count,
        next_at,
    )
    assert reason in decision.reason
    assert decision.ask_for_slot is (event is Event.NEED_SLOT)


# outcome, retries, seconds since the call -> event, next look, reason contains
AFTER_A_LOOK_UP = [
    (CallResult(Outcome.PUBLISHED, 200), 0, 60, Event.SUCCEED, None, ""),
    # A lost call found at work at Upload-Post is an accepted job: processing, not unknown.
    (CallResult(Outcome.PENDING, 200), 0, 60, Event.AWAIT, seconds(10), ""),
    (CallResult(Outcome.UNKNOWN, 503, "status 503"), 0, 60, Event.CHECK_LATER, seconds(10), ""),
    (
        CallResult(Outcome.PENDING, 200),
        0,
        1800,
        Event.FAIL,
        None,
        "still pending at Upload-Post 1800 s after the call",
    ),
    (
        CallResult(Outcome.UNKNOWN, 0, "status check failed"),
        1,
        1801,
        Event.FAIL,
        None,
        "check the platform before RetryUpload",
    ),
    (
        CallResult(Outcome.NOT_FOUND, 404),
        0,
        60,
        Event.RETRY_LATER,
        seconds(30),
        "no record of the call",
    ),
    (
        CallResult(Outcome.NOT_FOUND, 404),
        3,
        60,
        Event.NEED_SLOT,
        NOW + ALLOCATOR_BACKOFF,
        "gave up after 3 retries",
    ),
    (
        CallResult(Outcome.RETRYABLE, 200, "platform said no", job_ended=True),
        1,
        60,
        Event.RETRY_LATER,
        seconds(60),
        "platform said no",
    ),
]


@pytest.mark.parametrize(
    ("result", "retries", "ago", "event", "next_at", "reason"), AFTER_A_LOOK_UP
)
def test_after_a_reconciliation(result, retries, ago, event, next_at, reason):
    content = claimed(S.UNKNOWN_OUTCOME, retries)
    decision = decisions.after_call(
        result, content, POLICY, NOW, reconciling=True, call_started=NOW - timedelta(seconds=ago)
    )
    assert (decision.event, decision.next_retry_at) == (event, next_at)
    assert reason in decision.reason


# outcome of a look at an accepted job (PROCESSING), seconds since the call -> event, next look
AFTER_A_POLL = [
    (CallResult(Outcome.PUBLISHED, 200), 60, Event.SUCCEED, None),
    (CallResult(Outcome.PENDING, 200), 60, Event.POLL_LATER, seconds(10)),
    # Unreadable: the job is still Upload-Post's, at work; never "unknown outcome" again.
    (CallResult(Outcome.UNKNOWN, 503, "status 503"), 60, Event.POLL_LATER, seconds(10)),
    (CallResult(Outcome.PENDING, 200), 1800, Event.FAIL, None),
    (CallResult(Outcome.RETRYABLE, 200, "no", job_ended=True), 60, Event.RETRY_LATER, seconds(30)),
]


@pytest.mark.parametrize(("result", "ago", "event", "next_at"), AFTER_A_POLL)
def test_after_a_look_at_an_accepted_job(result, ago, event, next_at):
    content = claimed(S.PROCESSING)
    decision = decisions.after_call(
        result, content, POLICY, NOW, reconciling=True, call_started=NOW - timedelta(seconds=ago)
    )
    assert (decision.event, decision.next_retry_at) == (event, next_at)
    assert next_state(S.PROCESSING, decision.event)  # a move the lifecycle allows from there


def test_an_accepted_job_is_processing_and_names_its_job():
    result = CallResult(Outcome.ACCEPTED, 200, request_id="job-1")
    decision = decisions.after_call(
        result, claimed(S.SCHEDULED), POLICY, NOW, reconciling=False, call_started=NOW
    )
    assert (decision.event, decision.job) == (Event.AWAIT, "job-1")
    assert target(decision.event) is S.PROCESSING


def test_polling_backs_off_while_webhooks_arrive_and_not_otherwise():
    heard = decisions.poll_backoff(NOW - timedelta(minutes=1), NOW)
    assert heard == decisions.POLL_BACKOFF > 1
    assert decisions.poll_backoff(NOW - decisions.WEBHOOKS_HEARD_WITHIN, NOW) == 1.0
    assert decisions.poll_backoff(None, NOW) == 1.0
    # A replica with its receiver on expects them for as long from its start, then verifies.
    started = NOW - timedelta(minutes=1)
    assert decisions.poll_backoff(None, NOW, listening_since=started) == decisions.POLL_BACKOFF
    long_ago = NOW - decisions.WEBHOOKS_HEARD_WITHIN
    assert decisions.poll_backoff(None, NOW, listening_since=long_ago) == 1.0
    assert decisions.poll_backoff(started, NOW, listening_since=long_ago) == decisions.POLL_BACKOFF
    accepted = CallResult(Outcome.ACCEPTED, 200, request_id="job")
    later = decisions.after_call(
        accepted, claimed(), POLICY, NOW, reconciling=False, call_started=NOW, backoff=heard
    )
    assert later.next_retry_at == seconds(POLICY.poll_first * decisions.POLL_BACKOFF)
    pending = CallResult(Outcome.PENDING, 200)
    poll = decisions.after_call(
        pending,
        claimed(S.PROCESSING),
        POLICY,
        NOW,
        reconciling=True,
        call_started=NOW,
        backoff=heard,
    )
    assert poll.next_retry_at == seconds(POLICY.poll_every * decisions.POLL_BACKOFF)


@pytest.mark.parametrize("state", [S.SCHEDULED, S.RETRY_PENDING, S.UNKNOWN_OUTCOME, S.PROCESSING])
def test_a_dead_account_holds_the_account_and_sends_the_content_back_to_its_slot(state):
    dead = CallResult(Outcome.RECONNECT, 200, "access token expired", job_ended=True)
    content = claimed(state, 2)
    decision = decisions.after_call(
        dead,
        content,
        POLICY,
        NOW,
        reconciling=state in (S.UNKNOWN_OUTCOME, S.PROCESSING),
        call_started=NOW,
    )
    assert (decision.event, decision.hold) == (Event.WAIT_FOR_ACCOUNT, decisions.Hold.RECONNECT)
    assert next_state(state_while_held(state), decision.event) is S.SCHEDULED
    # Not a try of its retries; the job ended, so the next try goes under a new key.
    assert (decision.retry_count, decision.generation) == (2, content.generation + 1)
    assert "must be reconnected: access token expired" in decision.reason


def test_a_full_daily_cap_waits_until_the_window_frees_without_counting_a_retry():
    capped = CallResult(Outcome.CAPPED, 429, "cap 50 used", retry_after=7200)
    decision = decisions.after_call(
        capped, claimed(S.RETRY_PENDING, 1), POLICY, NOW, reconciling=False, call_started=NOW
    )
    assert (decision.event, decision.hold) == (Event.RETRY_LATER, decisions.Hold.DAILY_CAP)
    assert (decision.next_retry_at, decision.retry_count, decision.generation) == (
        seconds(7200),
        1,
        1,
    )


def test_a_job_that_ended_without_publishing_moves_to_a_new_key_and_a_lost_one_does_not():
    content = claimed(S.UNKNOWN_OUTCOME)
    ended = CallResult(Outcome.RETRYABLE, 200, "failed", job_ended=True)
    never = CallResult(Outcome.NOT_FOUND, 404)
    for result, generation in ((ended, 2), (never, 1)):
        decision = decisions.after_call(
            result, content, POLICY, NOW, reconciling=True, call_started=NOW
        )
        assert decision.generation == generation


def test_exhausted_retries_fail_instead_when_the_policy_says_so():
    policy = replace(POLICY, when_exhausted=WhenExhausted.FAIL)
    decision = decisions.after_call(
        CallResult(Outcome.RETRYABLE, 500, "boom"),
        claimed(S.RETRY_PENDING, 3),
        policy,
        NOW,
        reconciling=False,
        call_started=NOW,
    )
    assert (decision.event, decision.ask_for_slot) == (Event.FAIL, False)
    assert decision.reason == "gave up after 3 retries; last: boom"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (claimed(S.SCHEDULED), AttemptKind.PUBLISH),
        (claimed(S.RETRY_PENDING, 2, scheduled_at=NOW - timedelta(hours=5)), AttemptKind.PUBLISH),
        (claimed(S.UNKNOWN_OUTCOME), AttemptKind.RECONCILE),
        (claimed(S.SCHEDULED, scheduled_at=NOW - timedelta(minutes=59)), AttemptKind.PUBLISH),
        (
            claimed(S.SCHEDULED, scheduled_at=NOW - timedelta(hours=2), upload_now=True),
            AttemptKind.PUBLISH,
        ),
        (
            claimed(S.SCHEDULED, scheduled_at=NOW - timedelta(hours=2)),
            Decision(
                Event.NEED_SLOT, 0, NOW + ALLOCATOR_BACKOFF, 1, "missed its slot by 2:00:00", True
            ),
        ),
        (
            claimed(S.AWAITING_SLOT, 3, reason="gave up after 3 retries; last: boom"),
            Decision(
                Event.ASK_SLOT_LATER,
                3,
                NOW + ALLOCATOR_BACKOFF,
                1,
                "gave up after 3 retries; last: boom",
                True,
            ),
        ),
    ],
)
def test_on_claim(content, expected):
    assert decisions.on_claim(content, NOW, timedelta(hours=1)) == expected


@pytest.mark.parametrize(
    ("previous", "interrupted", "event"),
    [
        (S.SCHEDULED, [], Event.HAND_BACK),
        (S.SCHEDULED, [AttemptKind.PUBLISH], Event.LOSE_TRACK),
        (S.RETRY_PENDING, [], Event.RETRY_LATER),
        (S.RETRY_PENDING, [AttemptKind.PUBLISH], Event.LOSE_TRACK),
        (S.UNKNOWN_OUTCOME, [AttemptKind.RECONCILE], Event.CHECK_LATER),
        (S.AWAITING_SLOT, [], Event.ASK_SLOT_LATER),
    ],
)
def test_at_shutdown(previous, interrupted, event):
    decision = decisions.at_shutdown(claimed(previous, 1), interrupted, NOW)
    assert (decision.event, decision.retry_count, decision.next_retry_at) == (event, 1, NOW)
    next_state(state_while_held(previous), decision.event)  # a legal move from where it is


def test_an_unreachable_allocator_is_asked_again_after_the_backoff():
    decision = decisions.allocator_away(claimed(S.AWAITING_SLOT, 3), "gave up", NOW)
    assert decision == Decision(Event.ASK_SLOT_LATER, 3, NOW + ALLOCATOR_BACKOFF, 1, "gave up")
    next_state(S.AWAITING_SLOT, decision.event)


def test_an_allocator_refusal_fails_the_content_with_both_reasons():
    decision = decisions.slot_refused(claimed(S.AWAITING_SLOT), "missed its slot", "no slots")
    assert decision.event is Event.FAIL
    assert (
        decision.reason == "needed a new slot (missed its slot) but the Allocator refused: no slots"
    )
    next_state(S.AWAITING_SLOT, decision.event)


def test_the_most_telling_answer_wins_whatever_the_order():
    published = CallResult(Outcome.PUBLISHED, 200)
    pending = CallResult(Outcome.PENDING, 200)
    unknown = CallResult(Outcome.UNKNOWN, 503)
    ended = CallResult(Outcome.RETRYABLE, 200, job_ended=True)
    never = CallResult(Outcome.NOT_FOUND, 404)
    ranked = [published, pending, unknown, ended, never]
    for i, best in enumerate(ranked):
        for order in itertools.permutations(ranked[i:]):
            assert decisions.most_telling(order) is best


def answers_to(previous: ContentState) -> list[Outcome]:
    """What Upload-Post can answer: a publish is never pending or not found, a look-up never
    accepted."""
    if previous is S.UNKNOWN_OUTCOME:
        return [o for o in Outcome if o is not Outcome.ACCEPTED]
    return [o for o in Outcome if o not in (Outcome.PENDING, Outcome.NOT_FOUND)]


@pytest.mark.parametrize(
    ("previous", "outcome", "retries"),
    [
        (previous, outcome, retries)
        for previous in (S.SCHEDULED, S.RETRY_PENDING, S.UNKNOWN_OUTCOME)
        for outcome in answers_to(previous)
        for retries in (0, 1, 3)
    ],
)
def test_every_decision_after_a_call_is_a_legal_move(previous, outcome, retries):
    decision = decisions.after_call(
        CallResult(outcome, 200, "detail"),
        claimed(previous, retries),
        POLICY,
        NOW,
        reconciling=previous is S.UNKNOWN_OUTCOME,
        call_started=NOW,
    )
    next_state(state_while_held(previous), decision.event)


def test_a_worker_asks_the_allocator_for_less_time_than_the_backoff_hides_the_content():
    # Otherwise a second worker could claim the content to move it while the first still asks.
    timeout = inspect.signature(AllocatorGateway).parameters["timeout"].default
    assert timedelta(seconds=timeout) < ALLOCATOR_BACKOFF
