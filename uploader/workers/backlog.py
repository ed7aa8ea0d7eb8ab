"""The backlog gauge: how many contents are due and not yet claimed, per platform, for
`queuelabs_due_backlog` (a growing figure means the Uploader falls behind), and how many social
accounts must be reconnected, for `queuelabs_accounts_to_reconnect`. The backlog is the
whole database's, so one replica reports it (the one that leads the duty) and the others
withhold theirs: summed across replicas, the figure is counted once."""

from __future__ import annotations

from datetime import timedelta

from queuelabs import metrics
from queuelabs.clock import Clock
from queuelabs.platforms import Platform
from uploader.storage import UploaderStore

INTERVAL = timedelta(seconds=15)


class BacklogGauge:
    def __init__(self, store: UploaderStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def measure(self) -> dict[Platform, int]:
        async with self._store.transaction() as tx:
            backlog = await tx.due_backlog(self._clock.now())
            to_reconnect = await tx.accounts_to_reconnect()
        for platform in Platform:
            metrics.DUE_BACKLOG.labels(platform.value).set(backlog.get(platform, 0))
        metrics.ACCOUNTS_TO_RECONNECT.set(to_reconnect)
        return backlog

    async def turn(self) -> None:
        await self.measure()

    def withhold(self) -> None:
        """Reports nothing: another replica leads the gauge (a figure this one reported while
        it led would go stale)."""
        metrics.DUE_BACKLOG.clear()
        metrics.ACCOUNTS_TO_RECONNECT.set(0)
