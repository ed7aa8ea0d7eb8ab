"""The rescuer: a claim whose lease expired (its worker stopped or hung mid-call) becomes an
unknown outcome, to be reconciled; never straight back to due, as the call may have gone out."""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from queuelabs.clock import Clock
from uploader.storage import UploaderStore

log = logging.getLogger(__name__)

INTERVAL = timedelta(seconds=5)
# Rows per transaction: after a crash of many workers, short transactions that each hold few
# row locks, rather than one that holds them all.
BATCH = 500


class Rescuer:
    def __init__(self, store: UploaderStore, clock: Clock, batch: int = BATCH) -> None:
        self._store = store
        self._clock = clock
        self.batch = batch

    async def rescue_expired(self) -> list[tuple[UUID, str]]:
        """Rescues every expired lease, a batch per transaction until a batch comes back short;
        returns (content, the worker that held it)."""
        rescued: list[tuple[UUID, str]] = []
        while True:
            async with self._store.transaction() as tx:
                batch = await tx.rescue_expired(self._clock.now(), self.batch)
            for content_id, holder in batch:
                log.warning(
                    "lease of %s (held by %s) expired: outcome unknown, reconciling",
                    content_id,
                    holder,
                    extra={"content_id": str(content_id)},
                )
            rescued += batch
            if len(batch) < self.batch:
                return rescued

    async def turn(self) -> None:
        await self.rescue_expired()
