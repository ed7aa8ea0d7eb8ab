"""Whether Upload-Post's webhooks are in use now, as one replica sees it: it hears them itself
(its receiver started recently), or one told of a job lately (any replica kept it). While they
are, polling backs off (decisions.poll_backoff) and the workers look for a job's webhook before
they ask; while they are not, nothing is looked for, so a deployment without them pays nothing.

The database is asked at most once per FRESH (a process-wide cache: the answer moves slowly,
and the workers ask on every accepted job and every claim)."""

from __future__ import annotations

import time
from datetime import datetime

from queuelabs.clock import Clock
from uploader import decisions
from uploader.storage import UploaderStore

# How long one read of the last webhook's time is used (seconds of the process's own clock).
FRESH = 2.0


class Listening:
    def __init__(
        self, store: UploaderStore, clock: Clock, listening_since: datetime | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._listening_since = listening_since  # this replica's receiver started then
        self._last_notice: datetime | None = None
        self._read_at: float | None = None

    async def backoff(self) -> float:
        """The factor polling waits by now (see decisions.poll_backoff)."""
        if self._read_at is None or time.monotonic() - self._read_at >= FRESH:
            async with self._store.transaction() as tx:
                self._last_notice = await tx.last_notice()
            self._read_at = time.monotonic()
        return decisions.poll_backoff(self._last_notice, self._clock.now(), self._listening_since)

    async def in_use(self) -> bool:
        """Whether a job's webhook may be waiting to be read."""
        return await self.backoff() > 1.0
