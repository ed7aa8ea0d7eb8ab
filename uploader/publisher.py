"""Carries out what the decisions say for one claimed content, as atomic phases (brandur's
"recovery points"): commit the intent (request id, idempotency key), call Upload-Post, commit the
outcome. A crash between any two phases leaves a state the workers know how to finish: an open
attempt under an expired lease becomes an unknown outcome, which is reconciled before anything
is sent again. Every choice is made in uploader/decisions.py; nothing here decides.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from queuelabs import metrics
from queuelabs.clock import Clock
from queuelabs.lifecycle import ContentState
from queuelabs.platforms import Platform
from uploader import decisions
from uploader.allocator_client import AllocatorGateway
from uploader.budget import RequestBudget
from uploader.decisions import Decision
from uploader.domain import AttemptKind, AttemptRecord, Claimed
from uploader.listening import Listening
from uploader.outcomes import CallResult, Outcome
from uploader.policies import RetryPolicy
from uploader.settler import Call, Settler
from uploader.storage import Transaction, UploaderStore
from uploader.upload_post import PublishRequest, UploadPostClient, notice_result, sendable

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        store: UploaderStore,
        client: UploadPostClient,
        allocator: AllocatorGateway,
        budget: RequestBudget,
        policies: Mapping[Platform, RetryPolicy],
        clock: Clock,
        worker: str,
        max_lateness: timedelta,
        listening: Listening | None = None,
    ) -> None:
        self._store = store
        self._client = client
        self._budget = budget
        self._policies = policies
        self._clock = clock
        self._worker = worker
        self._max_lateness = max_lateness
        self._listening = listening  # whether Upload-Post's webhooks are in use (None: never)
        self._settler = Settler(store, allocator, clock, worker, listening)

    async def handle(self, claimed: Claimed) -> None:
        """Does what a claimed content is due for: publish, reconcile, or move."""
        match decisions.on_claim(claimed, self._clock.now(), self._max_lateness):
            case AttemptKind.PUBLISH:
                await self.publish(claimed)
            case AttemptKind.RECONCILE:
                await self.reconcile(claimed)
            case Decision() as decision:
                await self._settler.carry_out(claimed, decision)

    async def publish(self, claimed: Claimed) -> None:
        policy = self._policies[claimed.platform]
        async with self._store.transaction() as tx:
            done = await tx.success_of(claimed.content_id)
            if done is None:
                call = await self._begin(tx, claimed, AttemptKind.PUBLISH, str(uuid.uuid4()))
        if claimed.previous_state is ContentState.SCHEDULED:
            lag = (self._clock.now() - claimed.scheduled_at).total_seconds()
            metrics.DISPATCH_LAG_SECONDS.labels(claimed.platform.value).observe(max(0.0, lag))
        if done is not None:
            await self._settler.carry_out(
                claimed, decisions.already_published(claimed), done["post_url"]
            )
            return
        log.info(
            "publishing %s to %s",
            claimed.content_id,
            claimed.platform.value,
            extra=claimed.log_context(self._worker, call.request_id),
        )
        options, dropped = sendable(claimed.platform_options)
        if dropped:  # a row stored before the Allocator refused them: named, values never shown
            log.warning(
                "not sending options QueueLabs sets itself or that would schedule the post on"
                " Upload-Post's side: %s",
                ", ".join(dropped),
                extra=claimed.log_context(self._worker, call.request_id),
            )
        result = await self._client.publish(
            PublishRequest(
                user=claimed.upload_post_user,
                platform=claimed.platform,
                media_type=claimed.media_type,
                request_id=call.request_id,
                idempotency_key=claimed.idempotency_key,
                async_upload=policy.async_upload,
                media=claimed.media_urls,
                title=claimed.title,
                description=claimed.description,
                options=options,
                first_comment=claimed.first_comment,
                alt_text=claimed.alt_text,
            ),
            read_timeout=policy.read_timeout,
        )
        await self._budget.heed(result)
        decision = decisions.after_call(
            result,
            claimed,
            policy,
            self._clock.now(),
            reconciling=False,
            call_started=call.started_at,
            backoff=await self._backoff(result),
        )
        await self._settler.conclude(claimed, call, result, decision)

    async def reconcile(self, claimed: Claimed) -> None:
        """Finds out what became of the calls made under the current key before anything is
        sent again: from Upload-Post's webhook on one of their jobs if it came (no request),
        else by asking."""
        policy = self._policies[claimed.platform]
        async with self._store.transaction() as tx:
            done = await tx.success_of(claimed.content_id)
            calls = (
                await tx.publish_attempts_under_key(claimed.content_id, claimed.idempotency_key)
                if done is None
                else []
            )
            # A call's job is known by our request id, or by the id Upload-Post answered with:
            # its webhook may name either.
            notices = await tx.notices_of({job for c in calls for job in _ids_of(c)})
            heard = {c.number: n for c in calls for job in _ids_of(c) if (n := notices.get(job))}
            if calls:
                kind = AttemptKind.NOTICE if heard else AttemptKind.RECONCILE
                first = next((c for c in calls if c.number in heard), calls[0])
                look_up = await self._begin(tx, claimed, kind, _job_of(first))
        if done is not None:
            await self._settler.carry_out(
                claimed, decisions.already_published(claimed), done["post_url"]
            )
            return
        if not calls:
            nothing = decisions.nothing_sent(claimed, policy, self._clock.now())
            await self._settler.carry_out(claimed, nothing)
            return
        if heard:
            findings = [notice_result(heard[c.number]) for c in calls if c.number in heard]
        else:
            findings = []
            for i, call in enumerate(calls):  # newest first; one that published settles it
                findings.append(await self._what_became_of(call, claimed, paid=i == 0))
                if findings[-1].outcome is Outcome.PUBLISHED:
                    break
        result = decisions.most_telling(findings)
        decision = decisions.after_call(
            result,
            claimed,
            policy,
            self._clock.now(),
            reconciling=True,
            call_started=calls[0].started_at,
            backoff=await self._backoff(result),
        )
        await self._settler.conclude(claimed, look_up, result, decision)

    async def abandon(self, claimed: Claimed) -> None:
        """Gives a claim back at shutdown so that no lease is left to expire."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            interrupted = await tx.interrupt_attempts(
                claimed.content_id, "the uploader shut down mid-call", now
            )
        decision = decisions.at_shutdown(claimed, interrupted, now)
        await self._settler.settle(claimed, decision)
        log.info(
            "%s handed back at shutdown (%s)",
            claimed.content_id,
            decision.event.value,
            extra=claimed.log_context(self._worker),
        )

    async def _backoff(self, result: CallResult) -> float:
        """The polling backoff for the look that follows `result`, if one does (a job at work)."""
        if self._listening is None:
            return 1.0
        if result.outcome not in (Outcome.ACCEPTED, Outcome.PENDING, Outcome.UNKNOWN):
            return 1.0
        return await self._listening.backoff()

    async def _begin(
        self, tx: Transaction, claimed: Claimed, kind: AttemptKind, request_id: str
    ) -> Call:
        """The intent, committed before the call: an open attempt under the current key."""
        started = self._clock.now()
        number = await tx.start_attempt(
            claimed.content_id, kind, request_id, claimed.idempotency_key, self._worker, started
        )
        return Call(number, request_id, started)

    async def _what_became_of(
        self, call: AttemptRecord, claimed: Claimed, *, paid: bool
    ) -> CallResult:
        """Upload-Post's word on one call: the status endpoint, else the history. Each request
        is paid from the budget (the claim paid for the first status look-up)."""
        job = _job_of(call)
        if not paid:
            await self._budget.look_up()
        found = await self._client.status(job, claimed.platform)
        await self._budget.heed(found)
        if found.outcome is Outcome.NOT_FOUND:
            await self._budget.look_up()
            found = await self._client.find_in_history(job, claimed.platform)
            await self._budget.heed(found)
        return replace(found, request_id=job)


def _ids_of(call: AttemptRecord) -> set[str]:
    """Every id Upload-Post may know a call's job by."""
    return {call.request_id} | ({call.upstream_request_id} if call.upstream_request_id else set())


def _job_of(call: AttemptRecord) -> str:
    """The id Upload-Post knows a call's job by."""
    return call.upstream_request_id or call.request_id
