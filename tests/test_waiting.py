"""Why a content waits, and until when: the rule in uploader/waiting.py pinned branch by branch,
and its order (the first match wins). No database, no clock: every fact is given."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from queuelabs.lifecycle import IN_LINE, ContentState
from queuelabs.platforms import Platform
from queuelabs.uploader.v1 import uploader_pb2 as pb
from uploader.convert import WAIT_REASON_TO_PB
from uploader.domain import AttemptKind, AttemptRecord, UploadView
from uploader.outcomes import Outcome
from uploader.pacing import Limits
from uploader.waiting import (
    AccountHold,
    BudgetSeen,
    Pause,
    Waiting,
    WaitingContext,
    WaitReason,
    reported_next_retry_at,
    standing,
    why_waiting,
)

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
S = ContentState
R = WaitReason
PROFILE = uuid4()
KEY = (PROFILE, Platform.TIKTOK)
USER = "warta"
# The window the claim counts a user's posts in (pacing.WINDOW), written out: a minute and the
# two seconds' margin for a request slow to arrive.
WINDOW = timedelta(seconds=62)
LIMITS = Limits(requests_per_minute=100, posts_per_minute_per_profile=2)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def view(state: ContentState = S.SCHEDULED, **changes: object) -> UploadView:
    base = UploadView(
        content_id=uuid4(),
        profile_id=PROFILE,
        platform=Platform.TIKTOK,
        state=state,
        scheduled_at=at(-60),
        attempts=(),
        failure_reason="",
        post_url="",
        retry_count=0,
        next_retry_at=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def context(**changes: object) -> WaitingContext:
    base = WaitingContext(NOW, LIMITS, users={PROFILE: USER})
    return replace(base, **changes)  # type: ignore[arg-type]


def publish(number: int, request_id: str, upstream: str | None = None) -> AttemptRecord:
    return AttemptRecord(
        number=number,
        kind=AttemptKind.PUBLISH,
        request_id=request_id,
        upstream_request_id=upstream,
        started_at=at(-30),
        finished_at=at(-29),
        outcome=Outcome.ACCEPTED,
        http_status=200,
        error="",
    )


PAUSED = Pause(at(-3600), "ops-ana", "Upload-Post is down for TikTok")
RECONNECT = AccountHold(reconnect_since=at(-600), reconnect_reason="token revoked")
CAPPED = AccountHold(capped_until=at(3600), cap_reason="Upload-Post: daily cap of 15 reached")
FULL_USER = {USER: (at(-50), at(-10))}  # two posts in the window: the user's limit
BLOCKED = BudgetSeen(sent=3, oldest=at(-20), blocked_until=at(40), blocked_reason="HTTP 429")
PLAN_USED = BudgetSeen(sent=90, oldest=at(-45))  # the posts' ceiling of 100 a minute


# --- contents being looked at: each until its next look -----------------------------------------


def test_a_job_upload_post_took_waits_for_its_word_or_our_look_naming_the_job():
    waiting = why_waiting(
        view(
            S.PROCESSING,
            next_retry_at=at(5),
            attempts=(publish(1, "ours-1"), publish(2, "ours-2", upstream="job-77")),
        ),
        context(),
    )
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.PROCESSING, at(5))
    assert "job-77" in waiting.detail


def test_a_job_with_no_id_of_theirs_is_named_by_our_request_id():
    waiting = why_waiting(
        view(S.PROCESSING, next_retry_at=at(5), attempts=(publish(1, "ours-1"),)), context()
    )
    assert waiting is not None
    assert "ours-1" in waiting.detail


def test_an_unknown_outcome_is_reconciled_at_its_next_look():
    waiting = why_waiting(view(S.UNKNOWN_OUTCOME, next_retry_at=at(30)), context())
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.RECONCILING, at(30))
    assert "unknown" in waiting.detail


def test_a_content_awaiting_a_slot_waits_for_the_allocator_saying_why():
    reason = "retries ran out: HTTP 500"
    waiting = why_waiting(view(S.AWAITING_SLOT, next_retry_at=at(30), reason=reason), context())
    assert waiting == Waiting(R.NEW_SLOT, at(30), reason)


def test_an_overdue_look_is_until_now_never_in_the_past():
    waiting = why_waiting(view(S.PROCESSING, next_retry_at=at(-90)), context())
    assert waiting is not None
    assert waiting.until == NOW


def test_a_look_is_not_held_by_an_account_its_cap_or_a_rate():
    # The claims that look (poll, reconcile, ask for a slot) skip none of these.
    held = context(accounts={KEY: replace(RECONNECT, capped_until=at(3600))}, posts=FULL_USER)
    waiting = why_waiting(view(S.UNKNOWN_OUTCOME, next_retry_at=at(30)), held)
    assert waiting is not None
    assert waiting.reason is R.RECONCILING


PAUSED_AT = "paused by ops-ana at 2026-12-07 01:00:00 UTC: Upload-Post is down for TikTok"


@pytest.mark.parametrize(
    ("state", "then"),
    [
        (S.PROCESSING, "then Upload-Post's job job-77 is looked at"),
        (S.UNKNOWN_OUTCOME, "then Upload-Post is asked how the call whose outcome is unknown went"),
        (S.AWAITING_SLOT, "then the Allocator is asked for a new slot (retries ran out: HTTP 500)"),
    ],
)
def test_a_pause_holds_a_look_too_saying_what_is_done_once_resumed(state, then):
    # No claim takes a paused key's contents, looks included (claim_to_hold skips them): until
    # the resume nothing happens at its next look's time.
    content = view(
        state,
        next_retry_at=at(30),
        reason="retries ran out: HTTP 500",
        attempts=(publish(1, "ours-1", upstream="job-77"),),
    )
    waiting = why_waiting(content, context(pauses={KEY: PAUSED}))
    assert waiting == Waiting(R.PAUSED, None, f"{PAUSED_AT}; {then}")


def test_a_paused_job_with_no_id_yet_is_still_said_to_be_looked_at():
    waiting = why_waiting(view(S.PROCESSING, next_retry_at=at(5)), context(pauses={KEY: PAUSED}))
    assert waiting is not None
    assert waiting.detail == f"{PAUSED_AT}; then Upload-Post's job is looked at"


def test_a_pause_of_another_platform_holds_no_look_here():
    other = context(pauses={(PROFILE, Platform.INSTAGRAM): PAUSED})
    waiting = why_waiting(view(S.PROCESSING, next_retry_at=at(5)), other)
    assert waiting is not None
    assert waiting.reason is R.PROCESSING


# --- contents a claim to publish takes ----------------------------------------------------------


def test_a_paused_key_waits_until_resumed_naming_who_paused_it_when_and_why():
    waiting = why_waiting(view(), context(pauses={KEY: PAUSED}))
    assert waiting == Waiting(R.PAUSED, None, PAUSED_AT)


def test_a_pause_with_no_name_or_reason_still_reads_as_a_sentence():
    waiting = why_waiting(view(), context(pauses={KEY: Pause(at(-60), "", "")}))
    assert waiting is not None
    assert waiting.detail == (
        "paused by an unnamed caller at 2026-12-07 01:59:00 UTC: no reason given"
    )


def test_a_pause_of_another_platform_holds_nothing_here():
    waiting = why_waiting(view(), context(pauses={(PROFILE, Platform.INSTAGRAM): PAUSED}))
    assert waiting is not None
    assert waiting.reason is R.NEXT_IN_LINE


def test_an_account_to_reconnect_waits_for_a_person_saying_since_when_and_why():
    waiting = why_waiting(view(), context(accounts={KEY: RECONNECT}))
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.RECONNECT, None)
    assert "since 2026-12-07 01:50:00 UTC: token revoked" in waiting.detail
    assert "UPLOADER_MAX_LATENESS_SECONDS" in waiting.detail  # its slot may move meanwhile


def test_a_retry_of_an_account_to_reconnect_is_not_said_to_move_with_its_slot():
    waiting = why_waiting(view(S.RETRY_PENDING), context(accounts={KEY: RECONNECT}))
    assert waiting is not None
    assert waiting.reason is R.RECONNECT
    assert "MAX_LATENESS" not in waiting.detail


def test_a_full_daily_cap_waits_until_a_place_frees():
    waiting = why_waiting(view(), context(accounts={KEY: CAPPED}))
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.DAILY_CAP, at(3600))
    assert "daily cap of 15" in waiting.detail


def test_a_cap_that_has_run_out_holds_nothing():
    ended = AccountHold(capped_until=NOW)
    waiting = why_waiting(view(), context(accounts={KEY: ended}))
    assert waiting is not None
    assert waiting.reason is R.NEXT_IN_LINE


def test_a_content_before_its_slot_waits_for_it():
    waiting = why_waiting(view(scheduled_at=at(3600)), context())
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.SLOT, at(3600))


def test_a_retry_waits_for_its_time_saying_what_failed():
    waiting = why_waiting(
        view(S.RETRY_PENDING, next_retry_at=at(60), reason="HTTP 502 from Upload-Post"),
        context(),
    )
    assert waiting == Waiting(R.RETRY, at(60), "HTTP 502 from Upload-Post")


def test_upload_now_makes_a_content_due_before_its_slot():
    waiting = why_waiting(view(scheduled_at=at(3600), next_retry_at=at(-1)), context())
    assert waiting is not None
    assert waiting.reason is R.NEXT_IN_LINE


def test_upload_post_asking_for_a_pause_holds_every_due_content_until_then():
    waiting = why_waiting(view(), context(budget=BLOCKED))
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.PLAN_RATE, at(40))
    assert "HTTP 429" in waiting.detail


def test_the_plans_posts_used_up_hold_it_until_the_oldest_request_leaves_the_window():
    waiting = why_waiting(view(), context(budget=PLAN_USED))
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.PLAN_RATE, at(-45) + WINDOW)


def test_a_plan_with_room_for_posts_holds_nothing():
    waiting = why_waiting(view(), context(budget=BudgetSeen(sent=89, oldest=at(-45))))
    assert waiting is not None
    assert waiting.reason is R.NEXT_IN_LINE


def test_a_user_at_its_posting_rate_waits_until_its_oldest_post_leaves_the_window():
    waiting = why_waiting(view(), context(posts=FULL_USER))
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.PROFILE_RATE, at(-50) + WINDOW)
    assert "'warta' sent 2 posts" in waiting.detail


def test_a_user_past_its_rate_waits_until_enough_posts_leave_to_free_one_place():
    # Three in the window (a lower limit since, or a replica's race): a place frees when two
    # have left, at the second oldest's end.
    posts = {USER: (at(-55), at(-40), at(-5))}
    waiting = why_waiting(view(), context(posts=posts))
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.PROFILE_RATE, at(-40) + WINDOW)


def test_a_user_below_its_rate_holds_nothing():
    waiting = why_waiting(view(), context(posts={USER: (at(-10),)}))
    assert waiting is not None
    assert waiting.reason is R.NEXT_IN_LINE


def test_another_users_posts_hold_nothing_here():
    waiting = why_waiting(view(), context(posts={"someone-else": (at(-50), at(-10))}))
    assert waiting is not None
    assert waiting.reason is R.NEXT_IN_LINE


def test_a_content_whose_account_is_sending_another_goes_after_it():
    waiting = why_waiting(view(), context(sending=frozenset({KEY})))
    assert waiting is not None
    assert (waiting.reason, waiting.until) == (R.NEXT_IN_LINE, None)
    assert "being sent" in waiting.detail


def test_a_due_content_nothing_holds_is_next_in_line():
    assert why_waiting(view(), context()) == Waiting(
        R.NEXT_IN_LINE, None, "due: the next free worker takes it"
    )


@pytest.mark.parametrize("state", [S.UPLOADING, S.UPLOADED, S.FAILED, S.REMOVED])
def test_a_content_not_in_line_does_not_wait(state):
    everything = context(pauses={KEY: PAUSED}, accounts={KEY: RECONNECT}, budget=BLOCKED)
    assert why_waiting(view(state, next_retry_at=at(-5)), everything) is None


def test_every_state_in_line_waits_for_something():
    for state in IN_LINE:
        assert why_waiting(view(state, next_retry_at=at(-5)), context()) is not None, state


# --- the order: the first match wins ------------------------------------------------------------

# Every hold at once, then each taken away in turn: the reason is the first left in this order.
EVERYTHING: dict[str, object] = {
    "pauses": {KEY: PAUSED},
    "accounts": {KEY: replace(RECONNECT, capped_until=at(3600))},
    "budget": BLOCKED,
    "posts": FULL_USER,
    "sending": frozenset({KEY}),
}
ORDER: list[tuple[WaitReason, dict[str, object]]] = [
    (R.PAUSED, {"pauses": {}}),
    (R.RECONNECT, {"accounts": {KEY: CAPPED}}),
    (R.DAILY_CAP, {"accounts": {}}),
    # the slot (or retry) comes next: the content is moved before its time below
    (R.PLAN_RATE, {"budget": BudgetSeen()}),
    (R.PROFILE_RATE, {"posts": {}}),
    (R.NEXT_IN_LINE, {}),
]


def test_holds_are_weighed_in_order_the_first_that_holds_it_wins():
    facts = dict(EVERYTHING)
    for expected, removed in ORDER:
        waiting = why_waiting(view(), context(**facts))
        assert waiting is not None
        assert waiting.reason is expected, (expected, facts)
        facts.update(removed)


def test_a_person_and_the_cap_come_before_the_slot_the_slot_before_any_rate():
    later = view(scheduled_at=at(3600))
    assert _reason(later, pauses={KEY: PAUSED}) is R.PAUSED
    assert _reason(later, accounts={KEY: RECONNECT}) is R.RECONNECT
    assert _reason(later, accounts={KEY: CAPPED}) is R.DAILY_CAP
    rates = {"budget": BLOCKED, "posts": FULL_USER, "sending": frozenset({KEY})}
    assert _reason(later, **rates) is R.SLOT
    assert _reason(view(S.RETRY_PENDING, next_retry_at=at(60)), **rates) is R.RETRY


def test_the_plan_comes_before_the_user_and_the_user_before_the_account_in_flight():
    assert _reason(view(), budget=PLAN_USED, posts=FULL_USER) is R.PLAN_RATE
    assert _reason(view(), posts=FULL_USER, sending=frozenset({KEY})) is R.PROFILE_RATE


def _reason(content: UploadView, **facts: object) -> WaitReason | None:
    waiting = why_waiting(content, context(**facts))
    return None if waiting is None else waiting.reason


# --- next_retry_at as reported ------------------------------------------------------------------


def test_a_waiting_contents_next_retry_at_is_never_in_the_past():
    # The case: UploadNow set it a while ago; the user's rate holds the content on.
    content = view(next_retry_at=at(-20))
    found = standing(content, context(posts=FULL_USER))
    assert found.waiting is not None
    assert found.next_retry_at == found.waiting.until == at(-50) + WINDOW


def test_a_past_next_retry_at_with_nothing_later_known_is_the_time_of_the_answer():
    found = standing(view(next_retry_at=at(-20)), context())
    assert found.next_retry_at == NOW
    paused = standing(view(next_retry_at=at(-20)), context(pauses={KEY: PAUSED}))
    assert paused.next_retry_at == NOW


def test_a_later_stored_next_retry_at_stands():
    waiting = Waiting(R.PROFILE_RATE, at(10))
    assert reported_next_retry_at(at(60), waiting, NOW) == at(60)
    assert reported_next_retry_at(at(5), waiting, NOW) == at(10)


def test_none_stored_stays_none_and_a_content_not_waiting_keeps_what_is_stored():
    assert reported_next_retry_at(None, Waiting(R.PROFILE_RATE, at(10)), NOW) is None
    assert reported_next_retry_at(at(-600), None, NOW) == at(-600)
    done = standing(view(S.FAILED, next_retry_at=at(-600)), context())
    assert (done.waiting, done.next_retry_at) == (None, at(-600))


# --- the contract -------------------------------------------------------------------------------


def test_each_reason_is_the_contracts_reason_of_the_same_name_and_every_one_is_covered():
    names = {pb.WaitReason.Name(WAIT_REASON_TO_PB[r]) for r in WaitReason}
    contract = set(pb.WaitReason.keys()) - {"WAIT_REASON_UNSPECIFIED"}
    assert names == contract
