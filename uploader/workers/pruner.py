"""The request-log pruner: the request budget reads only the last minute of
`upload_post_requests` (a row per request, some 144,000 a day at the default plan); rows older
than an hour are deleted, a batch per transaction, the last hour kept for a person to look at.
Upload-Post's webhooks on jobs (`upload_post_notices`) go after two days: a job's look-up reads
its notice within minutes, and a late repeat of one settled long ago finds no content anyway."""

from __future__ import annotations

from datetime import timedelta

from queuelabs.clock import Clock
from uploader.storage import Transaction, UploaderStore
from uploader.workers.periodic import batch_after_batch

INTERVAL = timedelta(minutes=1)
KEEP = timedelta(hours=1)
KEEP_NOTICES = timedelta(days=2)
# Rows per transaction: the first turn after a long outage (or an upgrade from a version that
# never pruned) works through its backlog in short transactions.
BATCH = 1000


class RequestLogPruner:
    def __init__(self, store: UploaderStore, clock: Clock, batch: int = BATCH) -> None:
        self._store = store
        self._clock = clock
        self.batch = batch

    async def prune(self) -> int:
        """Deletes the log older than KEEP and the notices older than KEEP_NOTICES, batch by
        batch until both come back short; how many rows went."""
        now = self._clock.now()

        async def one_batch(tx: Transaction) -> tuple[int, int]:
            return (
                await tx.prune_requests(now - KEEP, self.batch),
                await tx.prune_notices(now - KEEP_NOTICES, self.batch),
            )

        return await batch_after_batch(self._store, self.batch, one_batch)

    async def turn(self) -> None:
        await self.prune()
