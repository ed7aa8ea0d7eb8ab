"""Commits what became of a content: a call's outcome with the move the decisions chose, the
move's event for callers (written by the move's own statement), and what the answer says of the
social account (to be reconnected, or its daily cap full), in one transaction; then, for a
content that needs a new slot, asks the Allocator for one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from queuelabs import metrics
from queuelabs.clock import Clock
from queuelabs.lifecycle import WAITING_ON_A_JOB, Event, target
from uploader import decisions
from uploader.allocator_client import AllocatorGateway
from uploader.decisions import Decision, Hold
from uploader.domain import Claimed
from uploader.errors import AllocatorUnavailable, UploaderError
from uploader.listening import Listening
from uploader.outcomes import CallResult, Outcome
from uploader.storage import Transaction, UploaderStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One attempt, as committed before the call: its number, our request id, when it began."""

    number: int
    request_id: str
    started_at: datetime


class Settler:
    def __init__(
        self,
        store: UploaderStore,
        allocator: AllocatorGateway,
        clock: Clock,
        worker: str,
        listening: Listening | None = None,
    ) -> None:
        self._store = store
        self._allocator = allocator
        self._clock = clock
        self._worker = worker
        self._listening = listening  # whether Upload-Post's webhooks are in use (None: never)

    async def conclude(
        self, claimed: Claimed, call: Call, result: CallResult, decision: Decision
    ) -> None:
        """Commits a call's outcome with the move it leads to, in one transaction."""
        now = self._clock.now()
        metrics.UPLOADS.labels(claimed.platform.value, result.outcome.value).inc()
        if decision.event is Event.RETRY_LATER:
            metrics.RETRIES.labels(claimed.platform.value).inc()
        async with self._store.transaction() as tx:
            await tx.finish_attempt(
                claimed.content_id,
                call.number,
                result.outcome,
                result.http_status,
                result.error,
                now,
                upstream_request_id=(
                    result.request_id
                    if result.request_id and result.request_id != call.request_id
                    else None
                ),
            )
            if result.outcome is Outcome.PUBLISHED:
                await tx.record_success(
                    claimed.content_id,
                    claimed.platform,
                    result.request_id or call.request_id,
                    result.post_url,
                    result.platform_post_id,
                    now,
                )
            moved = await self._move(tx, claimed, decision, result.post_url)
        log.info(
            "%s on %s: %s -> %s %s",
            claimed.content_id,
            claimed.platform.value,
            result.outcome.value,
            decision.event.value,
            decision.reason,
            extra=claimed.log_context(self._worker, call.request_id),
        )
        await self._after_settling(claimed, decision, moved)

    async def carry_out(self, claimed: Claimed, decision: Decision, post_url: str = "") -> None:
        """Makes a move that follows no call (or a success found before one)."""
        moved = await self.settle(claimed, decision, post_url)
        await self._after_settling(claimed, decision, moved)

    async def _after_settling(self, claimed: Claimed, decision: Decision, moved: bool) -> None:
        if not moved:
            log.warning(
                "%s: lease lost before %s was settled; the rescuer has it",
                claimed.content_id,
                decision.event.value,
                extra=claimed.log_context(self._worker),
            )
        elif decision.ask_for_slot:
            await self._ask_for_slot(claimed, decision.reason)

    async def settle(self, claimed: Claimed, decision: Decision, post_url: str = "") -> bool:
        """Moves the content this worker holds; it keeps holding it while it asks for a slot."""
        async with self._store.transaction() as tx:
            return await self._move(tx, claimed, decision, post_url)

    async def _move(
        self, tx: Transaction, claimed: Claimed, decision: Decision, post_url: str
    ) -> bool:
        """The move, and what it says beyond the content: the account held, or a job whose
        webhook came before its "accepted" was settled (looked at now). False when the content
        is no longer this worker's."""
        now = self._clock.now()
        moved = await tx.settle(
            claimed.content_id,
            decision.event,
            worker=self._worker,
            now=now,
            retry_count=decision.retry_count,
            next_retry_at=decision.next_retry_at,
            generation=decision.generation,
            reason=decision.reason,
            post_url=post_url or None,
            keep_lease=decision.ask_for_slot,
            tell=decision.tell,
            job=decision.job,
            capped=decision.hold is Hold.DAILY_CAP,
        )
        if not moved:
            return False
        if decision.hold is Hold.RECONNECT:
            marked = await tx.mark_profiles_reconnect(
                [claimed.profile_id],
                claimed.platform,
                decision.reason,
                "a publish answer",
                decision.hold_as_of or now,
                now,
            )
            if marked:
                log.warning(
                    "the %s account of profile %s must be reconnected in Upload-Post; its "
                    "contents wait until then: %s",
                    claimed.platform.value,
                    claimed.profile_id,
                    decision.reason,
                    extra=claimed.log_context(self._worker),
                )
        elif decision.hold is Hold.DAILY_CAP and decision.next_retry_at is not None:
            await tx.cap_account(
                claimed.profile_id, claimed.platform, decision.next_retry_at, decision.reason
            )
        if target(decision.event) in WAITING_ON_A_JOB and await self._hearing():
            # Upload-Post's word on its job may have come while this worker held the content
            # (the webhook then left it alone): look at it now, not at the next poll.
            held = replace(claimed, generation=decision.generation)
            if await tx.noticed([held]):
                await tx.due_now(claimed.content_id, now)
        return True

    async def _hearing(self) -> bool:
        return self._listening is not None and await self._listening.in_use()

    async def _ask_for_slot(self, claimed: Claimed, why: str) -> None:
        """Asks the Allocator to move the content (settled as awaiting_slot, still held by
        this worker) to its earliest free slot; the Allocator's move ends the claim."""
        try:
            await self._allocator.reschedule(claimed.content_id, why)
        except AllocatorUnavailable as away:
            await self.settle(claimed, decisions.allocator_away(claimed, why, self._clock.now()))
            log.warning(
                "%s: could not reach the Allocator now (%s); asking again later",
                claimed.content_id,
                away,
                extra=claimed.log_context(self._worker),
            )
            return
        except UploaderError as refused:
            failed = decisions.slot_refused(claimed, why, str(refused))
            await self.settle(claimed, failed)
            log.warning(
                "%s failed: %s",
                claimed.content_id,
                failed.reason,
                extra=claimed.log_context(self._worker),
            )
            return
        log.info(
            "%s rescheduled through the Allocator: %s",
            claimed.content_id,
            why,
            extra=claimed.log_context(self._worker),
        )
