"""Publishing one claimed content, as atomic phases (brandur's "recovery points"): commit the
intent (request id, idempotency key), call Upload-Post, commit the outcome. A crash between any
two phases leaves a state the loop knows how to finish: an open attempt under an expired lease
becomes an unknown outcome, which is reconciled before anything is sent again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from queuelabs import metrics
from queuelabs.clock import Clock
from queuelabs.lifecycle import ContentState, Event
from queuelabs.platforms import Platform
from uploader.allocator_client import AllocatorGateway
from uploader.decisions import ALLOCATOR_BACKOFF, Decision, decide, exhausted
from uploader.domain import AttemptRecord, Claimed
from uploader.errors import AllocatorUnavailable, UploaderError
from uploader.policies import RetryPolicy
from uploader.storage import UploaderStore
from uploader.upload_post import CallResult, Outcome, PublishRequest, UploadPostClient

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        store: UploaderStore,
        client: UploadPostClient,
        allocator: AllocatorGateway,
        policies: Mapping[Platform, RetryPolicy],
        clock: Clock,
        worker: str,
        max_lateness: timedelta,
    ) -> None:
        self._store = store
        self._client = client
        self._allocator = allocator
        self._policies = policies
        self._clock = clock
        self._worker = worker
        self._max_lateness = max_lateness

    async def handle(self, claimed: Claimed) -> None:
        """Does what a claimed content is due for: reconcile, move, or publish."""
        policy = self._policies[claimed.platform]
        now = self._clock.now()
        if claimed.previous_state is ContentState.UNKNOWN_OUTCOME:
            await self.reconcile(claimed, policy)
        elif claimed.previous_state is ContentState.RETRY_PENDING and exhausted(
            policy, claimed.retry_count
        ):
            # Retries ran out earlier and the Allocator could not be reached then: ask again.
            await self._give_back(claimed, Event.RETRY_LATER, "retries exhausted")
        elif (
            claimed.previous_state is ContentState.SCHEDULED
            and not claimed.upload_now
            and now - claimed.scheduled_at > self._max_lateness
        ):
            late = now - claimed.scheduled_at
            await self._give_back(claimed, Event.HAND_BACK, f"missed its slot by {late}")
        else:
            await self.publish(claimed, policy)

    async def publish(self, claimed: Claimed, policy: RetryPolicy) -> None:
        async with self._store.transaction() as tx:
            done = await tx.success_of(claimed.content_id)
            if done is None:
                request_id = str(uuid.uuid4())
                started = self._clock.now()
                number = await tx.start_attempt(
                    claimed.content_id,
                    "publish",
                    request_id,
                    claimed.idempotency_key,
                    self._worker,
                    started,
                )
        if claimed.previous_state is ContentState.SCHEDULED:
            lag = (self._clock.now() - claimed.scheduled_at).total_seconds()
            metrics.DISPATCH_LAG_SECONDS.labels(claimed.platform.value).observe(max(0.0, lag))
        if done is not None:  # published before (a lost answer, found since): never again
            await self._settle(
                claimed,
                Decision(Event.SUCCEED, claimed.retry_count, None, claimed.generation),
                done["post_url"],
            )
            return
        log.info(
            "publishing %s to %s",
            claimed.content_id,
            claimed.platform.value,
            extra=self._context(claimed, request_id),
        )
        result = await self._client.publish(
            PublishRequest(
                user=claimed.upload_post_user,
                platform=claimed.platform,
                media_type=claimed.media_type,
                request_id=request_id,
                idempotency_key=claimed.idempotency_key,
                async_upload=policy.async_upload,
                media_url=claimed.media_url,
                title=claimed.title,
                description=claimed.description,
                options=claimed.platform_options,
            ),
            read_timeout=policy.read_timeout,
        )
        await self._conclude(claimed, policy, number, request_id, result, started, False)

    async def reconcile(self, claimed: Claimed, policy: RetryPolicy) -> None:
        """Finds out what became of the calls made under the current key before anything is
        sent again."""
        async with self._store.transaction() as tx:
            done = await tx.success_of(claimed.content_id)
            calls = (
                await tx.publish_attempts_under_key(claimed.content_id, claimed.idempotency_key)
                if done is None
                else []
            )
            if calls:
                number = await tx.start_attempt(
                    claimed.content_id,
                    "reconcile",
                    _job_of(calls[0]),
                    claimed.idempotency_key,
                    self._worker,
                    self._clock.now(),
                )
        if done is not None:
            decision = Decision(Event.SUCCEED, claimed.retry_count, None, claimed.generation)
            await self._settle(claimed, decision, done["post_url"])
            return
        if not calls:  # nothing was sent under this key: safe to send
            result = CallResult(Outcome.NOT_FOUND, error="no call was made")
            now = self._clock.now()
            decision = decide(result, claimed, policy, now, reconciling=True, call_started=now)
            await self._settle(claimed, decision)
            return
        result = await self._what_became_of(calls, claimed.platform)
        await self._conclude(
            claimed, policy, number, result.request_id, result, calls[0].started_at, True
        )

    async def _what_became_of(self, calls: list[AttemptRecord], platform: Platform) -> CallResult:
        """The most telling answer about any of `calls` (all under one key): published, else
        still running or unreadable, else ended without publishing, else unknown to
        Upload-Post. Status by request id first, then the history."""
        findings = []
        for call in calls:
            job = _job_of(call)
            found = await self._client.status(job, platform)
            if found.outcome is Outcome.NOT_FOUND:
                found = await self._client.find_in_history(job, platform)
            if found.outcome is Outcome.PUBLISHED:
                return replace(found, request_id=job)
            findings.append(replace(found, request_id=job))
        for wanted in (Outcome.PENDING, Outcome.UNKNOWN, Outcome.RETRYABLE):
            for found in findings:
                if found.outcome is wanted:
                    return found
        return findings[0]

    async def _conclude(
        self,
        claimed: Claimed,
        policy: RetryPolicy,
        number: int,
        request_id: str,
        result: CallResult,
        call_started: datetime,
        reconciling: bool,
    ) -> None:
        now = self._clock.now()
        decision = decide(
            result, claimed, policy, now, reconciling=reconciling, call_started=call_started
        )
        metrics.UPLOADS.labels(claimed.platform.value, result.outcome.value).inc()
        if decision.event is Event.RETRY_LATER and not decision.reschedule:
            metrics.RETRIES.labels(claimed.platform.value).inc()
        async with self._store.transaction() as tx:
            await tx.finish_attempt(
                claimed.content_id,
                number,
                result.outcome.value,
                result.http_status,
                result.error,
                now,
                upstream_request_id=(
                    result.request_id
                    if result.request_id and result.request_id != request_id
                    else None
                ),
            )
            if result.outcome is Outcome.PUBLISHED:
                await tx.record_success(
                    claimed.content_id,
                    claimed.platform,
                    result.request_id or request_id,
                    result.post_url,
                    result.platform_post_id,
                    now,
                )
            moved = await tx.settle(
                claimed.content_id,
                decision.event,
                worker=self._worker,
                now=now,
                retry_count=decision.retry_count,
                next_retry_at=decision.next_retry_at,
                generation=decision.generation,
                reason=decision.reason,
                post_url=result.post_url or None,
            )
        log.info(
            "%s on %s: %s -> %s %s",
            claimed.content_id,
            claimed.platform.value,
            result.outcome.value,
            decision.event.value,
            decision.reason,
            extra=self._context(claimed, request_id),
        )
        if moved and decision.reschedule:
            await self._reschedule(claimed, decision.reason)
        elif not moved:
            log.warning(
                "%s: lease lost before the outcome was settled; the rescuer has it",
                claimed.content_id,
                extra=self._context(claimed, request_id),
            )

    async def abandon(self, claimed: Claimed) -> None:
        """Gives a claim back at shutdown so that no lease is left to expire: untouched content
        goes back in line; content whose call was in flight becomes an unknown outcome."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            interrupted = await tx.interrupt_attempts(
                claimed.content_id, "the uploader shut down mid-call", now
            )
        if claimed.previous_state is ContentState.UNKNOWN_OUTCOME:
            event = Event.CHECK_LATER
        elif "publish" in interrupted:
            event = Event.LOSE_TRACK  # it may have gone out: reconcile, never re-send blindly
        elif claimed.previous_state is ContentState.RETRY_PENDING:
            event = Event.RETRY_LATER  # back where it was, its retries counted as they were
        else:
            event = Event.HAND_BACK
        decision = Decision(
            event, claimed.retry_count, now, claimed.generation, "handed back at shutdown"
        )
        await self._settle(claimed, decision)
        log.info(
            "%s handed back at shutdown (%s)",
            claimed.content_id,
            event.value,
            extra=self._context(claimed),
        )

    async def _settle(
        self, claimed: Claimed, decision: Decision, post_url: str = "", *, held: bool = True
    ) -> None:
        """Moves the content; `held=False` when this worker's lease was already given up."""
        async with self._store.transaction() as tx:
            await tx.settle(
                claimed.content_id,
                decision.event,
                worker=self._worker if held else None,
                now=self._clock.now(),
                retry_count=decision.retry_count,
                next_retry_at=decision.next_retry_at,
                generation=decision.generation,
                reason=decision.reason,
                post_url=post_url or None,
            )

    async def _give_back(self, claimed: Claimed, event: Event, reason: str) -> None:
        """Releases the claim (to retry_pending or scheduled) and asks for a new slot."""
        backoff = Decision(
            event,
            claimed.retry_count,
            self._clock.now() + ALLOCATOR_BACKOFF,
            claimed.generation,
            reason,
        )
        await self._settle(claimed, backoff)
        await self._reschedule(claimed, reason)

    async def _reschedule(self, claimed: Claimed, reason: str) -> None:
        try:
            await self._allocator.reschedule(claimed.content_id, reason)
            log.info(
                "%s rescheduled through the Allocator: %s",
                claimed.content_id,
                reason,
                extra=self._context(claimed),
            )
        except AllocatorUnavailable as away:
            # Lose nothing: the content waits (retry_pending or scheduled) and is asked about
            # again after ALLOCATOR_BACKOFF.
            log.warning(
                "%s: could not reschedule now (%s); trying again later",
                claimed.content_id,
                away,
                extra=self._context(claimed),
            )
        except UploaderError as refused:
            # The Allocator answered no (no slots left, none free in the horizon): a person
            # must act, so say why instead of asking again forever.
            why = f"needed a new slot ({reason}) but the Allocator refused: {refused}"
            failed = Decision(Event.FAIL, claimed.retry_count, None, claimed.generation, why)
            await self._settle(claimed, failed, held=False)
            log.warning("%s failed: %s", claimed.content_id, why, extra=self._context(claimed))

    def _context(self, claimed: Claimed, request_id: str | None = None) -> dict[str, str]:
        """The fields every log line about this content carries (see queuelabs/logs.py)."""
        context = {
            "content_id": str(claimed.content_id),
            "profile_id": str(claimed.profile_id),
            "platform": claimed.platform.value,
            "worker": self._worker,
        }
        if request_id:
            context["request_id"] = request_id
        return context


def _job_of(call: AttemptRecord) -> str:
    """The id Upload-Post knows a call's job by."""
    return call.upstream_request_id or call.request_id
