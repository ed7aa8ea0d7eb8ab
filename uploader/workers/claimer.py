"""The claimer: claims due content (FOR UPDATE SKIP LOCKED, with a lease) and hands each to the
publisher, at most `per_platform` at a time per platform in this process. It looks again when
the next content falls due, when woken (UploadNow, a publish finished), and at least every
`idle`."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta

from queuelabs.clock import Clock
from queuelabs.platforms import Platform
from uploader.domain import Claimed
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
        clock: Clock,
        worker: str,
        *,
        per_platform: int,
        lease: timedelta,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._worker = worker
        self._per_platform = per_platform
        self._lease = lease
        self._in_flight: Counter[Platform] = Counter()
        self._tasks: dict[asyncio.Task[None], Claimed] = {}
        self.woken = asyncio.Event()

    def wake(self) -> None:
        """Look at the queue now instead of at the next planned moment."""
        self.woken.set()

    async def claim_due(self) -> list[Claimed]:
        """Claims what is due, as much as there is room for, and starts each."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            due = await tx.next_due()
        if due is None or due > now:  # nothing due: one query instead of a claim per platform
            return []
        lease_until = now + self._lease
        claimed: list[Claimed] = []
        for platform in Platform:
            room = self._per_platform - self._in_flight[platform]
            if room <= 0:
                continue
            async with self._store.transaction() as tx:
                taken = await tx.claim_due(platform, room, self._worker, now, lease_until)
            for content in taken:
                self._start(content)
            claimed += taken
        return claimed

    async def turn(self) -> timedelta | None:
        """One look at the queue; returns how long until the next content falls due."""
        await self.claim_due()
        async with self._store.transaction() as tx:
            due = await tx.next_due()
        return self._pause_until(due)

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

    def _pause_until(self, due: datetime | None) -> timedelta | None:
        if due is None:
            return None
        return max(_FLOOR, due - self._clock.now())
