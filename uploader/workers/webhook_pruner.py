"""The webhook pruner: deliveries done with (delivered or given up) and attempts are kept as
long as the event log (EVENTS_RETENTION, default 30 days), then deleted a batch per transaction
(SKIP LOCKED, so every replica may run it). A delivery still owed is never pruned."""

from __future__ import annotations

from datetime import timedelta

from queuelabs.clock import Clock
from uploader.storage import Transaction, UploaderStore
from uploader.workers.periodic import batch_after_batch

INTERVAL = timedelta(minutes=5)
# Rows of each table per transaction.
BATCH = 1000


class WebhookPruner:
    def __init__(
        self, store: UploaderStore, clock: Clock, retention: timedelta, batch: int = BATCH
    ) -> None:
        self._store = store
        self._clock = clock
        self._retention = retention
        self.batch = batch

    async def prune(self) -> int:
        """Deletes what is older than the retention, until a batch comes back short; how many
        rows went."""
        before = self._clock.now() - self._retention

        async def one_batch(tx: Transaction) -> tuple[int, int]:
            return await tx.prune_webhooks(before, self.batch)  # (deliveries, attempts)

        return await batch_after_batch(self._store, self.batch, one_batch)

    async def turn(self) -> None:
        await self.prune()
