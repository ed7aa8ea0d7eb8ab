"""Why a content in line waits, and until when: one pure rule over what the Uploader knows of
the content, its account, its Upload-Post user and the request budget every replica shares.

The first match wins. A pause comes first for every content in line: no claim takes a paused
key's contents, not even to look. Else a content being looked at or asked about waits for that
look (a job Upload-Post is publishing, a call whose outcome is unknown, a new slot). A content a
claim to publish takes waits, in this order, for a person to reconnect its account, for its
account's daily cap, for its time (its slot, its retry), for the plan's rate, for its Upload-Post
user's rate, and else for the next free worker. Nothing here reads a clock or the database: `now`
and the facts come in a `WaitingContext` (uploader/storage.py reads them, one set per page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from queuelabs.lifecycle import ContentState, Event, sources
from queuelabs.platforms import Platform
from uploader.domain import AttemptKind, UploadView
from uploader.pacing import WINDOW, Limits, room


class WaitReason(StrEnum):
    """What a content in line waits for (the proto's WaitReason, by name)."""

    SLOT = "slot"  # its slot has not come yet
    PLAN_RATE = "plan_rate"  # the plan's requests are used up, or Upload-Post asked for a pause
    PROFILE_RATE = "profile_rate"  # its Upload-Post user's posts per minute are used up
    DAILY_CAP = "daily_cap"  # its account's daily cap is full
    PAUSED = "paused"  # its (profile, platform) is paused
    PROCESSING = "processing"  # Upload-Post is publishing its job
    RETRY = "retry"  # a retry after a failure
    NEW_SLOT = "new_slot"  # the Allocator is asked for a new slot
    RECONNECT = "reconnect"  # its social account must be reconnected in Upload-Post
    RECONCILING = "reconciling"  # a call's outcome is unknown: being looked up
    NEXT_IN_LINE = "next_in_line"  # due now: the next free worker takes it


@dataclass(frozen=True)
class Waiting:
    reason: WaitReason
    until: datetime | None = None  # None: until someone acts (resumes, reconnects), or now
    detail: str = ""  # a sentence for a person


Key = tuple[UUID, Platform]  # a social account: (profile, platform)


@dataclass(frozen=True)
class Pause:
    """A paused key, as `paused_keys` holds it."""

    paused_at: datetime
    paused_by: str  # "" when nobody was named (auth off)
    reason: str


@dataclass(frozen=True)
class AccountHold:
    """What holds an account back, as `accounts` holds it."""

    reconnect_since: datetime | None = None
    reconnect_reason: str = ""
    capped_until: datetime | None = None
    cap_reason: str = ""


@dataclass(frozen=True)
class BudgetSeen:
    """The shared request budget: the last WINDOW's requests, and Upload-Post's pause."""

    sent: int = 0
    oldest: datetime | None = None
    blocked_until: datetime | None = None
    blocked_reason: str = ""


@dataclass(frozen=True)
class WaitingContext:
    """What the rule looks at beside the content itself, for a page of contents at once."""

    now: datetime
    limits: Limits
    budget: BudgetSeen = BudgetSeen()
    pauses: Mapping[Key, Pause] = field(default_factory=dict)
    accounts: Mapping[Key, AccountHold] = field(default_factory=dict)
    users: Mapping[UUID, str] = field(default_factory=dict)  # profile -> its Upload-Post user
    # user -> the sending times of its posts in the last WINDOW, oldest first
    posts: Mapping[str, tuple[datetime, ...]] = field(default_factory=dict)
    sending: frozenset[Key] = frozenset()  # accounts with a content being uploaded now


@dataclass(frozen=True)
class Standing:
    """A content as an operator is told of it: why it waits, and when it is next looked at."""

    view: UploadView
    waiting: Waiting | None
    next_retry_at: datetime | None  # as reported: never in the past while it waits


# The claims that take a content to look or to ask rather than to send, and what it waits for
# meanwhile: each until its next_retry_at (the claim's next look, or an answer that comes first).
_LOOKS = {
    Event.CLAIM_TO_POLL: WaitReason.PROCESSING,
    Event.CLAIM_TO_RECONCILE: WaitReason.RECONCILING,
    Event.CLAIM_TO_MOVE: WaitReason.NEW_SLOT,
}
TO_PUBLISH = sources(Event.CLAIM)


def why_waiting(view: UploadView, context: WaitingContext) -> Waiting | None:
    """What `view` waits for, or None when it does not wait (uploading, or done)."""
    look = _look(view)
    if look is None and view.state not in TO_PUBLISH:
        return None
    paused = _paused(view, context, look)
    if paused is not None:
        return paused
    if look is not None:
        return _looked_at(view, look, context.now)
    return (
        _to_reconnect(view, context)
        or _capped(view, context)
        or _not_yet(view, context.now)
        or _paced(view, context)
        or _next_in_line(view, context)
    )


def standing(view: UploadView, context: WaitingContext) -> Standing:
    waiting = why_waiting(view, context)
    return Standing(view, waiting, reported_next_retry_at(view.next_retry_at, waiting, context.now))


def reported_next_retry_at(
    stored: datetime | None, waiting: Waiting | None, now: datetime
) -> datetime | None:
    """The stored next_retry_at, never in the past for a content that waits: the latest of it,
    `waiting.until` and `now` (the time of the answer: it is due, the next look takes it). A
    content with none stored keeps none: its slot is when it is looked at."""
    if waiting is None or stored is None:
        return stored
    return max(stored, now, waiting.until or now)


def due_at(view: UploadView) -> datetime:
    """When a claim may take it: the time its retry, look or UploadNow asked for, else its slot."""
    return view.scheduled_at if view.next_retry_at is None else view.next_retry_at


def _look(view: UploadView) -> WaitReason | None:
    """What the claim that takes `view` to look waits for, or None: a claim to publish takes it."""
    for claim, reason in _LOOKS.items():
        if view.state in sources(claim):
            return reason
    return None


def _paused(view: UploadView, context: WaitingContext, look: WaitReason | None) -> Waiting | None:
    """A pause holds every claim of the key's contents, looks too (claim_to_hold skips it): the
    detail of a content to look at says what is done once resumed."""
    pause = context.pauses.get((view.profile_id, view.platform))
    if pause is None:
        return None
    by = pause.paused_by or "an unnamed caller"
    why = pause.reason or "no reason given"
    detail = f"paused by {by} at {_at(pause.paused_at)}: {why}"
    if look is not None:
        detail += f"; then {_after_resume(view, look)}"
    return Waiting(WaitReason.PAUSED, None, detail)


def _after_resume(view: UploadView, look: WaitReason) -> str:
    if look is WaitReason.PROCESSING:
        job = _job_id(view)
        return f"Upload-Post's job {job} is looked at" if job else "Upload-Post's job is looked at"
    if look is WaitReason.RECONCILING:
        return "Upload-Post is asked how the call whose outcome is unknown went"
    why = f" ({view.reason})" if view.reason else ""
    return f"the Allocator is asked for a new slot{why}"


def _looked_at(view: UploadView, reason: WaitReason, now: datetime) -> Waiting:
    until = max(due_at(view), now)  # overdue: the next free worker looks now
    if reason is WaitReason.PROCESSING:
        job = _job_id(view)
        detail = f"Upload-Post is publishing job {job}" if job else "Upload-Post is publishing it"
        return Waiting(reason, until, f"{detail}; we look again then, unless its word comes first")
    if reason is WaitReason.RECONCILING:
        return Waiting(reason, until, "a call's outcome is unknown; Upload-Post is asked then")
    return Waiting(reason, until, view.reason or "the Allocator is asked for a new slot")


def _job_id(view: UploadView) -> str:
    """The id of the job at Upload-Post: its newest publish call's (theirs, else ours)."""
    publishes = [a for a in view.attempts if a.kind is AttemptKind.PUBLISH]
    if not publishes:
        return ""
    newest = max(publishes, key=lambda a: a.number)
    return newest.upstream_request_id or newest.request_id


def _to_reconnect(view: UploadView, context: WaitingContext) -> Waiting | None:
    account = context.accounts.get((view.profile_id, view.platform))
    if account is not None and account.reconnect_since is not None:
        why = account.reconnect_reason or "no reason given"
        detail = (
            f"the {view.platform.value} account must be reconnected in Upload-Post "
            f"(since {_at(account.reconnect_since)}: {why})"
        )
        if view.state is ContentState.SCHEDULED:
            detail += (
                "; should its slot pass by more than UPLOADER_MAX_LATENESS_SECONDS meanwhile, "
                "it moves to a new slot"
            )
        return Waiting(WaitReason.RECONNECT, None, detail)
    return None


def _capped(view: UploadView, context: WaitingContext) -> Waiting | None:
    account = context.accounts.get((view.profile_id, view.platform))
    if account is None or account.capped_until is None or account.capped_until <= context.now:
        return None
    detail = account.cap_reason or f"the {view.platform.value} account's daily cap is full"
    return Waiting(WaitReason.DAILY_CAP, account.capped_until, f"{detail}; a place frees then")


def _not_yet(view: UploadView, now: datetime) -> Waiting | None:
    due = due_at(view)
    if due <= now:
        return None
    if view.state is ContentState.RETRY_PENDING:
        return Waiting(WaitReason.RETRY, due, view.reason or "a retry after a failure")
    return Waiting(WaitReason.SLOT, due, "its slot has not come yet")


def _paced(view: UploadView, context: WaitingContext) -> Waiting | None:
    budget, limits, now = context.budget, context.limits, context.now
    if budget.blocked_until is not None and budget.blocked_until > now:
        why = budget.blocked_reason or "no reason given"
        return Waiting(
            WaitReason.PLAN_RATE, budget.blocked_until, f"Upload-Post asked for a pause ({why})"
        )
    left = room(limits, now, budget.sent, budget.oldest, budget.blocked_until)
    if left.posts == 0:
        return Waiting(
            WaitReason.PLAN_RATE,
            left.frees_at,
            f"the plan's requests are used up: {budget.sent} sent in the last minute, posts may "
            f"fill {limits.posts_ceiling} of its {limits.requests_per_minute}",
        )
    user = context.users.get(view.profile_id)
    posts = context.posts.get(user or "", ())
    per_user = limits.posts_per_minute_per_profile
    if user is not None and len(posts) >= per_user:
        # Room comes back when enough of them leave the window to leave one place.
        frees_at = posts[len(posts) - per_user] + WINDOW
        return Waiting(
            WaitReason.PROFILE_RATE,
            frees_at,
            f"Upload-Post user {user!r} sent {len(posts)} posts in the last minute "
            f"(at most {per_user})",
        )
    return None


def _next_in_line(view: UploadView, context: WaitingContext) -> Waiting:
    if (view.profile_id, view.platform) in context.sending:
        return Waiting(
            WaitReason.NEXT_IN_LINE,
            None,
            f"due; another content of this {view.platform.value} account is being sent "
            "(one at a time per account): it goes after that one",
        )
    return Waiting(WaitReason.NEXT_IN_LINE, None, "due: the next free worker takes it")


def _at(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
