"""The event pruner: the event log is kept for EVENTS_RETENTION (default 30 days); older events
are deleted, a batch per transaction, by the statement `queuelabs prune` runs too
(queuelabs/retention.sql, `prune_events`)."""

from __future__ import annotations

from datetime import timedelta

from queuelabs.clock import Clock
from uploader.storage import Transaction, UploaderStore
from uploader.workers.periodic import batch_after_batch

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

        async def one_batch(tx: Transaction) -> tuple[int]:
            return (await tx.prune_events(before, self.batch),)

        return await batch_after_batch(self._store, self.batch, one_batch)

    async def turn(self) -> None:
        await self.prune()
