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


class Rescuer:
    def __init__(self, store: UploaderStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def rescue_expired(self) -> list[tuple[UUID, str]]:
        """Rescues every expired lease; returns (content, the worker that held it)."""
        async with self._store.transaction() as tx:
            rescued = await tx.rescue_expired(self._clock.now())
        for content_id, holder in rescued:
            log.warning(
                "lease of %s (held by %s) expired: outcome unknown, reconciling",
                content_id,
                holder,
                extra={"content_id": str(content_id)},
            )
        return rescued

    async def turn(self) -> None:
        await self.rescue_expired()
