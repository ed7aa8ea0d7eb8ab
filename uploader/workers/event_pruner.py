"""The event pruner: the event log is kept for EVENTS_RETENTION (default 30 days); older events
are deleted, a batch per transaction, by the statement `queuelabs prune` runs too
(queuelabs/retention.sql, `prune_events`)."""

from __future__ import annotations

from datetime import timedelta

from queuelabs.clock import Clock
from uploader.storage import UploaderStore

INTERVAL = timedelta(minutes=5)
# Rows per transaction: a first turn after a long outage, or with a retention just shortened,
# works through its backlog in short transactions.
BATCH = 1000


class EventPruner:
    def __init__(
        self, store: UploaderStore, clock: Clock, retention: timedelta, batch: int = BATCH
    ) -> None:
        self._store = store
        self._clock = clock
        self._retention = retention
        self.batch = batch

    async def prune(self) -> int:
        """Deletes the events older than the retention, batch by batch until one comes back
        short; how many went."""
        before = self._clock.now() - self._retention
        pruned = 0
        while True:
            async with self._store.transaction() as tx:
                deleted = await tx.prune_events(before, self.batch)
            pruned += deleted
            if deleted < self.batch:
                return pruned

    async def turn(self) -> None:
        await self.prune()
