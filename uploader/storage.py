"""The Uploader's storage: the only code that runs its SQL (uploader/queries.sql and
uploader/webhooks.sql, by name)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from queuelabs import retention
from queuelabs.counting import counted_instants
from queuelabs.events import START, Cursor, EventType
from queuelabs.lifecycle import (
    IN_LINE,
    LEASED,
    ON_A_JOB,
    WAITING_ON_A_JOB,
    ContentState,
    Event,
    sources,
    target,
)
from queuelabs.platforms import Platform
from queuelabs.sql import QueryRunner, SqlValues, by_event, load_queries, pooled_transaction
from uploader.domain import (
    AttemptKind,
    AttemptRecord,
    Claimed,
    Notice,
    RequestKind,
    StoredEvent,
    Unanswered,
    UploadQuery,
    UploadView,
)
from uploader.outcomes import Outcome
from uploader.pacing import WINDOW as PACING_WINDOW
from uploader.pacing import Limits
from uploader.waiting import TO_PUBLISH, AccountHold, BudgetSeen, Pause, WaitingContext
from uploader.webhooks.domain import AttemptView, Delivery, Endpoint, EndpointSpec

# The values the SQL names: state lists from the lifecycle table, kinds and outcomes from theirs.
SQL_VALUES: dict[str, SqlValues] = {
    "in_line": IN_LINE,
    "to_publish": sources(Event.CLAIM),
    "claimed": target(Event.CLAIM),
    "leased": LEASED,
    "lost": target(Event.LOSE_TRACK),
    "post": RequestKind.POST,
    "publish": AttemptKind.PUBLISH,
    "lost_call": Unanswered.LOST,
    "interrupted_call": Unanswered.INTERRUPTED,
    # the missed-slot path (decisions.on_claim) starts from a content waiting for its slot
    "missable": ContentState.SCHEDULED,
    "on_a_job": ON_A_JOB,
    # what Upload-Post's word on a job makes due now: a content whose look-up would read it
    "heard_of": WAITING_ON_A_JOB,
    "processing": EventType.UPLOAD_PROCESSING,
    "reconnect_required": EventType.ACCOUNT_RECONNECT_REQUIRED,
    "reconnected": EventType.ACCOUNT_RECONNECTED,
    # the types of event whose data `settle` writes (which move tells which: events.TOLD)
    "published": EventType.UPLOAD_PUBLISHED,
    "retrying": EventType.UPLOAD_RETRYING,
    "failed": EventType.UPLOAD_FAILED,
}
QUERIES = load_queries(Path(__file__).with_name("queries.sql"), SQL_VALUES) | {
    "prune_events": retention.QUERIES["prune_events"]  # one rule, `queuelabs prune`'s
}
# The webhook statements, run by the same Transaction; the one type of event they write.
QUERIES.update(
    load_queries(
        Path(__file__).with_name("webhooks.sql"),
        {"endpoint_disabled": EventType.WEBHOOK_ENDPOINT_DISABLED},
    )
)

# Why contents wait: the facts uploader/waiting.py weighs, read for a page at once.
QUERIES.update(
    load_queries(
        Path(__file__).with_name("waiting.sql"),
        {"sending": target(Event.CLAIM), "post": RequestKind.POST},
    )
)

# The advisory lock of the request budget: one key for the whole database.
BUDGET_LOCK = int.from_bytes(
    hashlib.blake2b(b"queuelabs/upload-post-budget", digest_size=8).digest(), "big", signed=True
)


class Transaction(QueryRunner):
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        super().__init__(conn, QUERIES)

    # The workers: claims, rescue, the backlog

    async def claim(
        self, event: Event, limit: int, worker: str, now: datetime, lease_until: datetime
    ) -> list[Claimed]:
        """Claims up to `limit` due contents by `event` (to reconcile, or to move): no request
        budget is asked here, see `claim_to_publish`."""
        if event not in (Event.CLAIM_TO_RECONCILE, Event.CLAIM_TO_POLL, Event.CLAIM_TO_MOVE):
            raise ValueError(f"{event} takes no lease alone; use claim_to_publish")
        if limit <= 0:
            return []
        rows = await self._rows(
            by_event("claim_to_hold", event),
            limit=limit,
            worker=worker,
            now=now,
            lease_until=lease_until,
        )
        return [Claimed.from_row(r) for r in rows]

    async def claim_to_publish(
        self,
        limit: int,
        per_profile: int,
        worker: str,
        now: datetime,
        lease_until: datetime,
    ) -> list[Claimed]:
        """Claims up to `limit` due contents to publish, earliest first, no Upload-Post user
        beyond `per_profile` posts in the last minute (the request log's count)."""
        if limit <= 0:
            return []
        rows = await self._rows(
            "claim_to_publish",
            limit=limit,
            per_profile=per_profile,
            window_start=now - PACING_WINDOW,
            worker=worker,
            now=now,
            lease_until=lease_until,
        )
        claimed = [Claimed.from_row(r) for r in rows]
        return sorted(claimed, key=lambda c: (c.due_at, c.content_id))

    async def claim_missed_slots(
        self, limit: int, max_lateness: timedelta, worker: str, now: datetime, lease_until: datetime
    ) -> list[Claimed]:
        """Claims up to `limit` contents of accounts to be reconnected whose slot passed more
        than `max_lateness` ago, to move them (nothing is sent)."""
        if limit <= 0:
            return []
        rows = await self._rows(
            "claim_missed_slots",
            limit=limit,
            missed_before=now - max_lateness,
            worker=worker,
            now=now,
            lease_until=lease_until,
        )
        return [Claimed.from_row(r) for r in rows]

    # The request budget every replica shares (uploader/pacing.py says how much)

    async def lock_budget(self) -> None:
        await self._rows("lock_budget", key=BUDGET_LOCK)

    async def budget_state(self, now: datetime) -> tuple[int, datetime | None, datetime | None]:
        """(requests sent in the minute before `now`, the oldest of them, blocked until)."""
        row = await self._row("budget_state", window_start=now - PACING_WINDOW)
        assert row is not None
        return int(row["sent"]), row["oldest"], row["blocked_until"]

    async def record_requests(
        self, requests: Sequence[tuple[str | None, RequestKind]], worker: str, now: datetime
    ) -> None:
        """Counts requests (upload_post_user or None, kind) as sent now."""
        if requests:
            await self._rows(
                "record_requests",
                users=[user for user, _ in requests],
                kinds=[kind.value for _, kind in requests],
                worker=worker,
                now=now,
            )

    async def pause_requests(self, until: datetime, reason: str) -> None:
        await self._rows("pause_requests", until=until, reason=reason)

    async def prune_requests(self, before: datetime, batch: int) -> int:
        """Deletes up to `batch` rows of the request log older than `before`; how many."""
        row = await self._row("prune_requests", before=before, batch=batch)
        assert row is not None
        return int(row["pruned"])

    async def prune_events(self, before: datetime, batch: int) -> int:
        """Deletes up to `batch` events that happened before `before`; how many."""
        return len(await self._rows("prune_events", before=before, batch=batch))

    async def next_due(self, now: datetime, max_lateness: timedelta) -> datetime | None:
        """When a claim may next find work (see the statement)."""
        row = await self._row("next_due", now=now, max_lateness=max_lateness)
        return row["due"] if row else None

    async def due_backlog(self, now: datetime) -> dict[Platform, int]:
        rows = await self._rows("due_backlog", now=now)
        return {Platform(r["platform"]): int(r["due"]) for r in rows}

    async def lead_duty(self, duty: str, worker: str, now: datetime, until: datetime) -> bool:
        """Whether `worker` leads `duty` (taken or kept until `until`): it alone runs it."""
        return (
            await self._row("lead_duty", duty=duty, worker=worker, now=now, until=until) is not None
        )

    async def resign_duties(self, worker: str) -> None:
        await self._rows("resign_duties", worker=worker)

    async def rescue_expired(self, now: datetime, batch: int) -> list[tuple[UUID, str]]:
        """Up to `batch` expired leases become unknown outcomes; returns (content, the worker
        that held it)."""
        rows = await self._rows("rescue_expired", now=now, batch=batch)
        if rows:
            await self._rows(
                "close_lost_attempts",
                content_ids=[r["content_id"] for r in rows],
                now=now,
                error="the worker's lease expired mid-call (it stopped or hung)",
            )
        return [(r["content_id"], r["lease_owner"]) for r in rows]

    async def renew_lease(self, content_id: UUID, worker: str, lease_until: datetime) -> bool:
        """Moves the lease's end to `lease_until`; False when `worker` no longer holds it."""
        rows = await self._rows(
            "renew_lease", content_id=content_id, worker=worker, lease_until=lease_until
        )
        return bool(rows)

    # Attempts

    async def start_attempt(
        self,
        content_id: UUID,
        kind: AttemptKind,
        request_id: str,
        key: str,
        worker: str,
        now: datetime,
    ) -> int:
        row = await self._row(
            "start_attempt",
            content_id=content_id,
            kind=kind.value,
            request_id=request_id,
            idempotency_key=key,
            worker=worker,
            now=now,
        )
        assert row is not None
        return int(row["number"])

    async def finish_attempt(
        self,
        content_id: UUID,
        number: int,
        outcome: Outcome,
        http_status: int,
        error: str,
        now: datetime,
        upstream_request_id: str | None = None,
    ) -> None:
        await self._rows(
            "finish_attempt",
            content_id=content_id,
            number=number,
            outcome=outcome.value,
            http_status=http_status or None,
            error=error,
            now=now,
            upstream_request_id=upstream_request_id,
        )

    async def interrupt_attempts(
        self, content_id: UUID, error: str, now: datetime
    ) -> list[AttemptKind]:
        """Closes the content's open attempts; returns their kinds."""
        rows = await self._rows("interrupt_attempts", content_id=content_id, error=error, now=now)
        return [AttemptKind(r["kind"]) for r in rows]

    async def publish_attempts_under_key(self, content_id: UUID, key: str) -> list[AttemptRecord]:
        """Every call made under `key`, newest first."""
        rows = await self._rows("publish_attempts_under_key", content_id=content_id, key=key)
        return [AttemptRecord.from_row(r) for r in rows]

    async def record_success(
        self,
        content_id: UUID,
        platform: Platform,
        request_id: str,
        post_url: str,
        platform_post_id: str,
        now: datetime,
    ) -> None:
        """The success record; a second one for the same content is silently refused."""
        await self._rows(
            "record_success",
            content_id=content_id,
            platform=platform.value,
            request_id=request_id,
            post_url=post_url,
            platform_post_id=platform_post_id,
            now=now,
        )

    async def success_of(self, content_id: UUID) -> dict[str, Any] | None:
        return await self._row("success_of", content_id=content_id)

    async def settle(
        self,
        content_id: UUID,
        event: Event,
        *,
        worker: str,
        now: datetime,
        retry_count: int,
        next_retry_at: datetime | None,
        generation: int,
        reason: str = "",
        post_url: str | None = None,
        keep_lease: bool = False,
        tell: bool = True,
        job: str = "",
        capped: bool = False,
    ) -> bool:
        """Moves a content `worker` holds by `event`, with the move's event if callers are told
        of it (events.TOLD) and `tell`; False when it is no longer ours or no longer there.
        `keep_lease`: the worker still acts on it (asks the Allocator). `job`: Upload-Post's id
        of the job it now waits on (upload.processing); `capped`: a retry that waits for a
        daily cap, not after a failure (upload.retrying says which)."""
        row = await self._row(
            by_event("settle", event),
            content_id=content_id,
            worker=worker,
            now=now,
            retry_count=retry_count,
            next_retry_at=next_retry_at,
            generation=generation,
            reason=reason,
            post_url=post_url,
            uploaded_at=now if target(event) is ContentState.UPLOADED else None,
            keep_lease=keep_lease,
            tell=tell,
            job=job,
            wait_reason="WAIT_REASON_DAILY_CAP" if capped else "WAIT_REASON_RETRY",
        )
        return row is not None

    # The event log (the ordering rule: queries.sql, events_after)

    async def events_after(
        self,
        cursor: Cursor,
        limit: int,
        *,
        profile_ids: Collection[UUID] = (),
        platforms: Collection[Platform] = (),
        types: Collection[EventType] = (),
    ) -> list[StoredEvent]:
        """Up to `limit` events after `cursor` in cursor order, none that a transaction still
        running could yet precede; each filter keeps events matching one of its values (empty:
        all)."""
        if limit <= 0:
            return []
        rows = await self._rows(
            "events_after",
            xid=str(cursor.xid),
            seq=cursor.seq,
            profile_ids=list(profile_ids),
            platforms=[p.value for p in platforms],
            types=[t.value for t in types],
            limit=limit,
        )
        return [StoredEvent.from_row(r) for r in rows]

    async def events_horizon(self) -> Cursor:
        """The newest position a reader may pass now (START for an empty log): reading after
        it misses nothing committed from now on."""
        row = await self._row("events_horizon")
        return START if row is None else Cursor(int(row["xid"]), row["seq"])

    # Operators

    async def view(self, content_id: UUID) -> UploadView | None:
        row = await self._row("get_content", content_id=content_id)
        if row is None:
            return None
        attempts = await self._rows("attempts_of", content_id=content_id)
        return UploadView.from_row(row, tuple(AttemptRecord.from_row(a) for a in attempts))

    async def list_views(self, query: UploadQuery) -> list[UploadView]:
        rows = await self._rows(
            "list_contents",
            profile_id=query.profile_id,
            platform=query.platform.value if query.platform else None,
            states=sorted(s.value for s in query.states),
            changed_xid=str(query.changed_after.xid) if query.changed_after else None,
            changed_seq=query.changed_after.seq if query.changed_after else None,
            changed_since=query.changed_since,
            after_at=query.after[0] if query.after else None,
            after_id=query.after[1] if query.after else None,
            limit=query.page_size + 1,
        )
        attempts: dict[UUID, list[AttemptRecord]] = {r["content_id"]: [] for r in rows}
        for a in await self._rows("attempts_of_many", content_ids=list(attempts)):
            attempts[a["content_id"]].append(AttemptRecord.from_row(a))
        return [UploadView.from_row(r, tuple(attempts[r["content_id"]])) for r in rows]

    async def upload_now(self, content_id: UUID, now: datetime) -> bool:
        """Makes a content a claim to publish takes due now; False when it is not one."""
        row = await self._row("upload_now", content_id=content_id, now=now)
        return row is not None

    async def counted_instants(
        self,
        profile_id: UUID,
        platform: Platform,
        start: datetime,
        until: datetime,
        moving: UUID | None = None,
    ) -> list[datetime]:
        """What a daily cap counts in [start, until), sorted (see queuelabs/caps.py)."""
        return await counted_instants(self._conn, profile_id, platform, start, until, moving)

    async def profile_exists(self, profile_id: UUID) -> bool:
        return await self._row("get_profile", profile_id=profile_id) is not None

    async def pause(
        self, profile_id: UUID, platform: Platform, now: datetime, by: str = "", reason: str = ""
    ) -> Pause:
        """Pauses the key, `by` a caller for `reason`; a key paused already keeps its pause."""
        row = await self._row(
            "pause",
            profile_id=profile_id,
            platform=platform.value,
            now=now,
            paused_by=by,
            reason=reason,
        )
        assert row is not None
        return Pause(row["paused_at"], row["paused_by"], row["reason"])

    async def resume(self, profile_id: UUID, platform: Platform, now: datetime) -> None:
        """Lifts the key's pause and its account's mark to be reconnected, if any (told)."""
        await self._rows("resume", profile_id=profile_id, platform=platform.value)
        await self.clear_profiles_reconnect(
            [profile_id], platform, "an operator's ResumeProfile", now, now
        )

    # Social accounts as Upload-Post sees them, and its word on jobs

    async def mark_reconnect(
        self,
        upload_post_user: str,
        platform: Platform,
        reason: str,
        source: str,
        word_at: datetime,
        now: datetime,
    ) -> list[UUID]:
        """Every profile of that Upload-Post user needs its account on `platform` reconnected,
        unless a newer word (`word_at`) said otherwise; the profiles newly marked, each told
        (account.reconnect_required) in this transaction."""
        profiles = await self._profiles_of(upload_post_user)
        return await self.mark_profiles_reconnect(profiles, platform, reason, source, word_at, now)

    async def mark_profiles_reconnect(
        self,
        profile_ids: Sequence[UUID],
        platform: Platform,
        reason: str,
        source: str,
        word_at: datetime,
        now: datetime,
    ) -> list[UUID]:
        """As mark_reconnect, for the given profiles."""
        return await self._word_on_accounts(
            profile_ids, platform, now, reason=reason, source=source, word_at=word_at
        )

    async def clear_reconnect(
        self,
        upload_post_user: str,
        platform: Platform,
        source: str,
        word_at: datetime,
        now: datetime,
    ) -> list[UUID]:
        """The account is connected again, unless a newer word said otherwise; the profiles
        cleared, each told (account.reconnected) in this transaction."""
        profiles = await self._profiles_of(upload_post_user)
        return await self.clear_profiles_reconnect(profiles, platform, source, word_at, now)

    async def clear_profiles_reconnect(
        self,
        profile_ids: Sequence[UUID],
        platform: Platform,
        source: str,
        word_at: datetime,
        now: datetime,
    ) -> list[UUID]:
        """As clear_reconnect, for the given profiles."""
        return await self._word_on_accounts(
            profile_ids, platform, now, reason=None, source=source, word_at=word_at
        )

    async def _profiles_of(self, upload_post_user: str) -> list[UUID]:
        """The profiles posting through one Upload-Post user: a word on its account is theirs."""
        rows = await self._rows("accounts_of_user", user=upload_post_user)
        return [r["profile_id"] for r in rows]

    async def _word_on_accounts(
        self,
        profile_ids: Sequence[UUID],
        platform: Platform,
        now: datetime,
        *,
        reason: str | None,
        source: str,
        word_at: datetime,
    ) -> list[UUID]:
        """A word on the accounts' connection: needs reconnecting (`reason`) or connected again
        (None). A word older than the last one heard changes nothing (webhooks come late and
        out of order); the accounts whose state changed are told."""
        if not profile_ids:
            return []
        accounts = {"profile_ids": list(profile_ids), "platform": platform.value}
        await self._rows("make_accounts", **accounts)
        rows = await self._rows("lock_accounts", **accounts)
        heeded = [r for r in rows if r["word_at"] is None or r["word_at"] <= word_at]
        needs_reconnect = reason is not None
        changed = [
            r["profile_id"] for r in heeded if (r["reconnect_since"] is None) == needs_reconnect
        ]
        if heeded:
            await self._rows(
                "set_reconnect",
                profile_ids=[r["profile_id"] for r in heeded],
                platform=platform.value,
                since=now if needs_reconnect else None,
                reason=reason or "",
                source=source,
                word_at=word_at,
            )
        if changed:
            await self._rows(
                "tell_accounts",
                profile_ids=changed,
                platform=platform.value,
                needs_reconnect=needs_reconnect,
                reason=reason or "",
                source=source,
                now=now,
            )
        return changed

    async def cap_account(
        self, profile_id: UUID, platform: Platform, until: datetime, reason: str
    ) -> None:
        """The account's daily cap is full until `until`: nothing is sent to it before."""
        await self._rows(
            "cap_account",
            profile_id=profile_id,
            platform=platform.value,
            until=until,
            reason=reason,
        )

    async def accounts_to_reconnect(self) -> int:
        row = await self._row("accounts_to_reconnect")
        assert row is not None
        return int(row["accounts"])

    async def note_upload_result(self, notice: Notice, now: datetime) -> UUID | None:
        """Keeps Upload-Post's word on a job (a repeat changes nothing) and makes the content
        that waits on that job due now; the content's id, or None when no content of ours waits
        on that job (then nothing is kept)."""
        row = await self._row("job_waited_on", job=notice.job_id)
        if row is None:
            return None
        await self._rows(
            "keep_notice",
            job=notice.job_id,
            now=now,
            success=notice.success,
            post_url=notice.post_url,
            platform_post_id=notice.platform_post_id,
            error=notice.error,
            body=Jsonb(notice.body),
        )
        await self._rows("due_now", content_id=row["content_id"], now=now)
        content_id: UUID = row["content_id"]
        return content_id

    async def due_now(self, content_id: UUID, now: datetime) -> bool:
        """Makes a content that waits on a job due now (Upload-Post's word on it came); False
        when it waits on none."""
        return bool(await self._rows("due_now", content_id=content_id, now=now))

    async def notices_of(self, jobs: Collection[str]) -> dict[str, Notice]:
        """Upload-Post's word on each of `jobs` that it has told of, by job."""
        if not jobs:
            return {}
        rows = await self._rows("notices_of", jobs=list(jobs))
        return {r["job_id"]: Notice.from_row(r) for r in rows}

    async def noticed(self, claimed: Sequence[Claimed]) -> set[UUID]:
        """Those of `claimed` that Upload-Post told of a call under their current key."""
        if not claimed:
            return set()
        rows = await self._rows(
            "noticed",
            content_ids=[c.content_id for c in claimed],
            keys=[c.idempotency_key for c in claimed],
        )
        return {r["content_id"] for r in rows}

    async def last_notice(self) -> datetime | None:
        """When Upload-Post last told of a job by webhook (None: never, or pruned since)."""
        row = await self._row("last_notice")
        return row["at"] if row else None

    async def prune_notices(self, before: datetime, batch: int) -> int:
        row = await self._row("prune_notices", before=before, batch=batch)
        assert row is not None
        return int(row["pruned"])

    # Webhooks (the statements: uploader/webhooks.sql)

    async def create_webhook_endpoint(
        self, endpoint_id: UUID, spec: EndpointSpec, secret: str, now: datetime
    ) -> Endpoint:
        """A new endpoint, owed every matching event that commits from now on (its deliveries
        are planned from the log's horizon)."""
        start = await self.events_horizon()
        row = await self._row(
            "create_webhook_endpoint",
            endpoint_id=endpoint_id,
            url=spec.url,
            types=sorted(t.value for t in spec.types),
            profile_ids=sorted(spec.profile_ids),
            description=spec.description,
            secret=secret,
            now=now,
            planned_xid=str(start.xid),
            planned_seq=start.seq,
        )
        assert row is not None
        return Endpoint.from_row(row)

    async def webhook_endpoints(
        self, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Endpoint]:
        rows = await self._rows(
            "list_webhook_endpoints",
            after_at=after[0] if after else None,
            after_id=after[1] if after else None,
            limit=limit,
        )
        return [Endpoint.from_row(r) for r in rows]

    async def webhook_endpoint(self, endpoint_id: UUID) -> Endpoint | None:
        row = await self._row("get_webhook_endpoint", endpoint_id=endpoint_id)
        return None if row is None else Endpoint.from_row(row)

    async def delete_webhook_endpoint(self, endpoint_id: UUID) -> bool:
        return bool(await self._rows("delete_webhook_endpoint", endpoint_id=endpoint_id))

    async def rotate_webhook_secret(
        self, endpoint_id: UUID, secret: str, expires_at: datetime
    ) -> bool:
        rows = await self._rows(
            "rotate_webhook_secret", endpoint_id=endpoint_id, secret=secret, expires_at=expires_at
        )
        return bool(rows)

    async def webhook_endpoints_to_plan(self) -> list[UUID]:
        return [r["endpoint_id"] for r in await self._rows("webhook_endpoints_to_plan")]

    async def lock_endpoint_to_plan(self, endpoint_id: UUID) -> tuple[EndpointSpec, Cursor] | None:
        """The endpoint's filters and how far its deliveries are planned, its row locked; None
        when another replica plans it now, or it is disabled or gone."""
        row = await self._row("lock_endpoint_to_plan", endpoint_id=endpoint_id)
        if row is None:
            return None
        return Endpoint.from_row(row).spec, Cursor(int(row["planned_xid"]), row["planned_seq"])

    async def plan_webhook_deliveries(
        self, endpoint_id: UUID, events: Sequence[tuple[StoredEvent, str]], now: datetime
    ) -> None:
        """Owes the endpoint each (event, body), due now."""
        if events:
            await self._rows(
                "plan_webhook_deliveries",
                endpoint_id=endpoint_id,
                xids=[str(e.cursor.xid) for e, _ in events],
                seqs=[e.cursor.seq for e, _ in events],
                event_ids=[e.event_id for e, _ in events],
                bodies=[body for _, body in events],
                now=now,
            )

    async def advance_webhook_plan(self, endpoint_id: UUID, cursor: Cursor) -> None:
        await self._rows(
            "advance_webhook_plan", endpoint_id=endpoint_id, xid=str(cursor.xid), seq=cursor.seq
        )

    async def claim_webhook_deliveries(
        self, limit: int, per_endpoint: int, worker: str, now: datetime, lease_until: datetime
    ) -> list[Delivery]:
        """Claims up to `limit` due deliveries, no endpoint beyond `per_endpoint` in flight,
        and writes each try down as begun."""
        if limit <= 0:
            return []
        rows = await self._rows(
            "claim_webhook_deliveries",
            limit=limit,
            per_endpoint=per_endpoint,
            worker=worker,
            now=now,
            lease_until=lease_until,
        )
        claimed = [Delivery.from_row(r, now) for r in rows]
        if claimed:
            await self._rows(
                "start_webhook_attempts",
                endpoint_ids=[d.endpoint_id for d in claimed],
                event_ids=[d.event_id for d in claimed],
                attempts=[d.attempt for d in claimed],
                worker=worker,
                now=now,
            )
        return claimed

    async def finish_webhook_attempt(
        self,
        delivery: Delivery,
        worker: str,
        now: datetime,
        *,
        http_status: int | None,
        error: str,
        delivered: bool,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Writes the try's answer down and settles the delivery: delivered, due again at
        `next_attempt_at`, or given up. False when this sender no longer held it (its lease
        ran out); the attempt is written down all the same."""
        await self._rows(
            "finish_webhook_attempt",
            endpoint_id=delivery.endpoint_id,
            event_id=delivery.event_id,
            attempt=delivery.attempt,
            http_status=http_status,
            error=error,
            delivered=delivered,
            next_attempt_at=next_attempt_at,
            now=now,
        )
        rows = await self._rows(
            "settle_webhook_delivery",
            endpoint_id=delivery.endpoint_id,
            event_xid=str(delivery.event_xid),
            event_seq=delivery.event_seq,
            worker=worker,
            delivered=delivered,
            next_attempt_at=next_attempt_at,
            now=now,
        )
        return bool(rows)

    async def webhook_endpoint_answered(self, endpoint_id: UUID) -> None:
        await self._rows("webhook_endpoint_answered", endpoint_id=endpoint_id)

    async def webhook_endpoint_failed(
        self, endpoint_id: UUID, now: datetime
    ) -> tuple[int, datetime]:
        """Counts one more failure in the endpoint's run: (failures in a row, since when)."""
        row = await self._row("webhook_endpoint_failed", endpoint_id=endpoint_id, now=now)
        if row is None:  # deleted meanwhile: a run of one
            return 1, now
        return int(row["failures_in_a_row"]), row["failing_since"]

    async def disable_webhook_endpoint(self, endpoint_id: UUID, reason: str, now: datetime) -> bool:
        """Disables the endpoint and writes its webhook.endpoint_disabled event; False when it
        was disabled (or deleted) already."""
        rows = await self._rows(
            "disable_webhook_endpoint", endpoint_id=endpoint_id, reason=reason, now=now
        )
        return bool(rows)

    async def next_webhook_due(self) -> datetime | None:
        row = await self._row("next_webhook_due")
        return row["due"] if row else None

    async def prune_webhooks(self, before: datetime, batch: int) -> tuple[int, int]:
        """Deletes up to `batch` finished deliveries and `batch` attempts older than `before`;
        how many of each went."""
        pruned = []
        for statement in ("prune_webhook_deliveries", "prune_webhook_attempts"):
            row = await self._row(statement, before=before, batch=batch)
            assert row is not None
            pruned.append(int(row["pruned"]))
        return pruned[0], pruned[1]

    async def webhook_attempts(
        self,
        endpoint_id: UUID | None,
        event_id: UUID | None,
        before: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[tuple[AttemptView, UUID]]:
        """Attempts newest first, each with its id (what a page token holds)."""
        rows = await self._rows(
            "list_webhook_attempts",
            endpoint_id=endpoint_id,
            event_id=event_id,
            before_at=before[0] if before else None,
            before_id=before[1] if before else None,
            limit=limit,
        )
        return [(AttemptView.from_row(r), r["attempt_id"]) for r in rows]

    # Why contents wait (the statements: uploader/waiting.sql; the rule: uploader/waiting.py)

    async def waiting_context(
        self,
        views: Sequence[UploadView],
        now: datetime,
        limits: Limits,
    ) -> WaitingContext:
        """The facts the rule weighs for `views` (a page), each read once for them all: the
        pauses for every content in line (a pause holds looks too), the rest only for contents
        a claim to publish takes (the others wait for a look of their own)."""
        context = WaitingContext(now, limits)
        in_line = sorted({(v.profile_id, v.platform.value) for v in views if v.state in IN_LINE})
        if not in_line:
            return context
        pauses = {
            (r["profile_id"], Platform(r["platform"])): Pause(
                r["paused_at"], r["paused_by"], r["reason"]
            )
            for r in await self._rows(
                "paused_among",
                profile_ids=[k[0] for k in in_line],
                platforms=[k[1] for k in in_line],
            )
        }
        keys = sorted({(v.profile_id, v.platform.value) for v in views if v.state in TO_PUBLISH})
        if not keys:
            return replace(context, pauses=pauses)
        among = {"profile_ids": [k[0] for k in keys], "platforms": [k[1] for k in keys]}
        window_start = now - PACING_WINDOW
        accounts = {
            (r["profile_id"], Platform(r["platform"])): AccountHold(
                r["reconnect_since"], r["reconnect_reason"], r["capped_until"], r["cap_reason"]
            )
            for r in await self._rows("held_among", **among)
        }
        sending = frozenset(
            (r["profile_id"], Platform(r["platform"]))
            for r in await self._rows("sending_among", **among)
        )
        users: dict[UUID, str] = {}
        posts: dict[str, tuple[datetime, ...]] = {}
        for r in await self._rows(
            "posts_of_users", profile_ids=among["profile_ids"], window_start=window_start
        ):
            users[r["profile_id"]] = r["upload_post_user"]
            posts[r["upload_post_user"]] = tuple(r["posts"])
        budget = await self._row("budget_seen", window_start=window_start)
        assert budget is not None
        return replace(
            context,
            budget=BudgetSeen(
                int(budget["sent"]),
                budget["oldest"],
                budget["blocked_until"],
                budget["blocked_reason"] or "",
            ),
            pauses=pauses,
            accounts=accounts,
            users=users,
            posts=posts,
            sending=sending,
        )


class UploaderStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with pooled_transaction(self._pool) as conn:
            yield Transaction(conn)
