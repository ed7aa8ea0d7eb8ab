"""The claimer: claims due content (FOR UPDATE SKIP LOCKED, with a lease) within the request
budget every replica shares, and hands each to the publisher, at most `max_in_flight` at a time
in this process. Each turn takes, in this order, unknown outcomes to reconcile and Upload-Post's
jobs to look at (never starved by new posts; a look-up Upload-Post's webhook already answered
costs no request), contents waiting for a slot and contents of accounts to be reconnected whose
slot passed (they cost no request), then contents to publish: earliest first, each Upload-Post
user within its posting rate, one at a time per social account. It looks again when the next
content falls due or the budget frees up, when woken (UploadNow, a publish finished, a webhook),
and at least every `idle`.

While a content is handled its lease is renewed every third of a lease: a worker waiting its
turn for the budget, or for a slow Upload-Post, keeps what it holds, and only one that stopped
(killed, or its event loop stuck) lets the lease run out for the rescuer."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from queuelabs import tracing
from queuelabs.clock import Clock
from queuelabs.lifecycle import Event
from uploader.budget import RequestBudget
from uploader.domain import Claimed, RequestKind
from uploader.listening import Listening
from uploader.publisher import Publisher
from uploader.storage import UploaderStore

log = logging.getLogger(__name__)

# The shortest pause, so content that is due but has no room yet does not spin the claimer.
_FLOOR = timedelta(seconds=0.05)


class Claimer:
    def __init__(
        self,
        store: UploaderStore,
        publisher: Publisher,
        budget: RequestBudget,
        clock: Clock,
        worker: str,
        *,
        max_in_flight: int,
        lease: timedelta,
        max_lateness: timedelta,
        listening: Listening | None = None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._budget = budget
        self._clock = clock
        self._worker = worker
        self._max_in_flight = max_in_flight
        self._lease = lease
        self._max_lateness = max_lateness
        self._listening = listening  # whether Upload-Post's webhooks are in use (None: never)
        self._tasks: dict[asyncio.Task[None], Claimed] = {}
        self._budget_frees_at: datetime | None = None
        self.woken = asyncio.Event()

    @property
    def worker(self) -> str:
        """This replica's name, as leases record it."""
        return self._worker

    def wake(self) -> None:
        """Look at the queue now instead of at the next planned moment."""
        self.woken.set()

    async def claim_due(self) -> list[Claimed]:
        """Claims what is due, as much as there is room and budget for, and starts each."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            due = await tx.next_due(now, self._max_lateness)
        room = self._max_in_flight - len(self._tasks)
        if due is None or due > now or room <= 0:  # one query instead of a claim
            return []
        lease_until = now + self._lease
        hearing = self._listening is not None and await self._listening.in_use()
        async with self._store.transaction() as tx:
            budget = await self._budget.room(tx)
            look_ups = await tx.claim(
                Event.CLAIM_TO_RECONCILE, min(room, budget.look_ups), self._worker, now, lease_until
            )
            look_ups += await tx.claim(
                Event.CLAIM_TO_POLL,
                min(room, budget.look_ups) - len(look_ups),
                self._worker,
                now,
                lease_until,
            )
            # Upload-Post's webhook answered these: their look-up reads it, nothing is sent.
            heard = await tx.noticed(look_ups) if hearing else set()
            asked = len(look_ups) - len(heard)
            moves = await tx.claim(
                Event.CLAIM_TO_MOVE, room - len(look_ups), self._worker, now, lease_until
            )
            moves += await tx.claim_missed_slots(
                room - len(look_ups) - len(moves),
                self._max_lateness,
                self._worker,
                now,
                lease_until,
            )
            posts = await tx.claim_to_publish(
                min(room - len(look_ups) - len(moves), budget.posts - asked),
                self._budget.limits.posts_per_minute_per_profile,
                self._worker,
                now,
                lease_until,
            )
            await self._budget.spend(
                tx,
                [(None, RequestKind.LOOK_UP) for c in look_ups if c.content_id not in heard]
                + [(c.upload_post_user, RequestKind.POST) for c in posts],
            )
        self._budget_frees_at = budget.frees_at
        claimed = look_ups + moves + posts
        for content in claimed:
            self._start(content)
        return claimed

    async def turn(self) -> timedelta | None:
        """One look at the queue; returns how long until the next content falls due, or until
        the budget frees up if that is what holds due content back."""
        await self.claim_due()
        now = self._clock.now()
        async with self._store.transaction() as tx:
            due = await tx.next_due(now, self._max_lateness)
        if due is None:
            return None
        if due <= now:  # due, but held back: by the budget (until it frees), or by a profile's
            # posting rate or this process's room (a finished publish wakes the claimer)
            if self._budget_frees_at is None:
                return None
            due = self._budget_frees_at
        return max(_FLOOR, due - now)

    async def drain(self, grace: float) -> None:
        """Waits up to `grace` seconds for the work in flight; then cancels the rest and hands
        each of those contents back (see Publisher.abandon), so no lease is left to expire."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
        left = [self._tasks[task] for task in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for content in left:
            try:
                await self._publisher.abandon(content)
            except Exception:  # the database is away: the lease will expire instead
                log.exception("could not hand %s back", content.content_id)

    def _start(self, content: Claimed) -> None:
        task = asyncio.create_task(self._handle(content))
        self._tasks[task] = content
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    async def _handle(self, content: Claimed) -> None:
        renewing = asyncio.create_task(self._keep_lease(content))
        try:
            with tracing.span(
                "uploader handles a content",
                attributes={
                    "queuelabs.content_id": str(content.content_id),
                    "queuelabs.platform": content.platform.value,
                    "queuelabs.state": content.previous_state.value,
                },
            ):
                await self._publisher.handle(content)
        except Exception:
            # The lease runs out and the rescuer makes it an unknown outcome: nothing is lost.
            log.exception("publishing %s failed unexpectedly", content.content_id)
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            self.wake()  # room for the next one

    async def _keep_lease(self, content: Claimed) -> None:
        """Renews the lease every third of a lease until the handling ends or the lease is
        no longer this worker's (settled, or taken by the rescuer)."""
        every = self._lease / 3
        while True:
            await self._clock.sleep(every)
            try:
                async with self._store.transaction() as tx:
                    held = await tx.renew_lease(
                        content.content_id, self._worker, self._clock.now() + self._lease
                    )
            except Exception:  # the database is away: try again; the lease may run out
                log.warning("could not renew the lease of %s", content.content_id, exc_info=True)
                continue
            if not held:
                return
