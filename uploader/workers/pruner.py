"""The request-log pruner: the request budget needs only the last minute of the log; older rows
are deleted, an hour's worth kept for a person to look at."""

from __future__ import annotations

from datetime import timedelta

from queuelabs.clock import Clock
from uploader.storage import UploaderStore

INTERVAL = timedelta(minutes=1)
KEEP = timedelta(hours=1)


class RequestLogPruner:
    def __init__(self, store: UploaderStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def prune(self) -> None:
        async with self._store.transaction() as tx:
            await tx.prune_requests(self._clock.now() - KEEP)

    async def turn(self) -> None:
        await self.prune()
