"""The scheduling loop: claims due content (FOR UPDATE SKIP LOCKED, with a lease) and hands each
to the Publisher, at most `per_platform` at a time per platform; rescues expired leases; sleeps
until the next content falls due, or until woken (UploadNow), never longer than `idle`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from queuelabs import metrics
from queuelabs.clock import Clock
from queuelabs.errors import Refusal
from queuelabs.platforms import Platform
from uploader.domain import Claimed
from uploader.publisher import Publisher
from uploader.storage import UploaderStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSettings:
    per_platform: int = 4  # publishes in flight per platform, per process
    lease: timedelta = timedelta(seconds=300)
    idle: timedelta = timedelta(seconds=1)  # the longest sleep between looks at the queue
    rescue_every: timedelta = timedelta(seconds=5)


class SchedulingLoop:
    def __init__(
        self,
        store: UploaderStore,
        publisher: Publisher,
        clock: Clock,
        worker: str,
        settings: LoopSettings,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._worker = worker
        self._settings = settings
        self._wake = asyncio.Event()
        self._in_flight: Counter[Platform] = Counter()
        self._tasks: dict[asyncio.Task[None], Claimed] = {}
        self._last_rescue: datetime | None = None

    def wake(self) -> None:
        """Looks at the queue now instead of at the next planned moment."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("scheduling loop %s started", self._worker)
        while not stop.is_set():
            try:
                pause = await self.tick()
            except Refusal as trouble:  # the database is away: keep trying, calmly
                log.warning("scheduling loop: %s", trouble)
                pause = self._settings.idle.total_seconds()
            except Exception:
                # Whatever it was, this replica must not stop publishing: log it and go on
                # (claims already made run out their leases and are rescued).
                log.exception("scheduling loop: unexpected error; carrying on")
                pause = self._settings.idle.total_seconds()
            self._wake.clear()
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waits:
                waiter.cancel()

    async def tick(self) -> float:
        """One look at the queue: rescue what is stuck, claim what is due, start it. Returns
        how long to sleep before the next look."""
        now = self._clock.now()
        if self._last_rescue is None or now - self._last_rescue >= self._settings.rescue_every:
            await self.rescue(now)
        async with self._store.transaction() as tx:
            due = await tx.next_due()
        if due is None or due > now:  # nothing due: one query instead of a claim per platform
            return self._pause_until(due)
        lease_until = now + self._settings.lease
        for platform in Platform:
            room = self._settings.per_platform - self._in_flight[platform]
            if room <= 0:
                continue
            async with self._store.transaction() as tx:
                claimed = await tx.claim_due(platform, room, self._worker, now, lease_until)
            for content in claimed:
                self._start(content)
        async with self._store.transaction() as tx:
            return self._pause_until(await tx.next_due())

    async def rescue(self, now: datetime) -> None:
        """Expired leases become unknown outcomes; also refreshes the due-backlog gauge."""
        async with self._store.transaction() as tx:
            rescued = await tx.rescue_expired(now)
            backlog = await tx.due_backlog(now)
        for platform in Platform:
            metrics.DUE_BACKLOG.labels(platform.value).set(backlog.get(platform, 0))
        for content_id, holder in rescued:
            log.warning(
                "lease of %s (held by %s) expired: outcome unknown, reconciling", content_id, holder
            )
        self._last_rescue = now

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
        self._in_flight[content.platform] += 1
        task = asyncio.create_task(self._handle(content))
        self._tasks[task] = content
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    async def _handle(self, content: Claimed) -> None:
        try:
            await self._publisher.handle(content)
        except Exception:
            # The lease runs out and the rescuer makes it an unknown outcome: nothing is lost.
            log.exception("publishing %s failed unexpectedly", content.content_id)
        finally:
            self._in_flight[content.platform] -= 1
            self.wake()  # room for the next one

    def _pause_until(self, due: datetime | None) -> float:
        idle = self._settings.idle.total_seconds()
        if due is None:
            return idle
        # A floor, so content that is due but has no room yet does not spin the loop.
        return min(idle, max(0.05, (due - self._clock.now()).total_seconds()))
