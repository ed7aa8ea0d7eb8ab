"""The request budget every Uploader replica shares, kept in PostgreSQL (the one thing replicas
share): a log of the requests sent in the last minute, read and written under one advisory lock,
and Upload-Post's own word on when to send again. A request is counted before it is sent; the
row leaves the minute by itself, so a replica killed while holding budget leaks none of it (the
request-log pruner, a duty in uploader/workers/duties.py, deletes it after an hour).

uploader/pacing.py says how much may go; this module keeps the books.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from queuelabs.clock import Clock
from uploader.domain import RequestKind
from uploader.outcomes import CallResult
from uploader.pacing import Limits, Room, room
from uploader.storage import Transaction, UploaderStore

log = logging.getLogger(__name__)

# The longest a look-up waits between two looks at the budget.
_RECHECK = timedelta(seconds=5)


class RequestBudget:
    def __init__(self, store: UploaderStore, limits: Limits, clock: Clock, worker: str) -> None:
        self._store = store
        self.limits = limits
        self._clock = clock
        self._worker = worker

    async def room(self, tx: Transaction) -> Room:
        """What may be sent now. Takes the budget's lock: spend in the same transaction."""
        await tx.lock_budget()
        now = self._clock.now()
        sent, oldest, blocked_until = await tx.budget_state(now)
        return room(self.limits, now, sent, oldest, blocked_until)

    async def spend(self, tx: Transaction, requests: list[tuple[str | None, RequestKind]]) -> None:
        """Counts requests (upload_post_user or None, kind) as sent now."""
        await tx.record_requests(requests, self._worker, self._clock.now())

    async def look_up(self) -> None:
        """Waits until one more look-up (status, history) may go, and counts it."""
        while True:
            async with self._store.transaction() as tx:
                left = await self.room(tx)
                if left.look_ups > 0:
                    await self.spend(tx, [(None, RequestKind.LOOK_UP)])
                    return
            now = self._clock.now()
            wait = (left.frees_at or now + _RECHECK) - now
            await self._clock.sleep(min(max(wait, timedelta(0)), _RECHECK))

    async def heed(self, result: CallResult) -> None:
        """Upload-Post said to send nothing for a while (no requests left in its window, or a
        429 for the plan's rate): every replica waits that long."""
        if result.send_again_in is None:
            return
        until = self._clock.now() + timedelta(seconds=result.send_again_in)
        async with self._store.transaction() as tx:
            await tx.pause_requests(until, f"Upload-Post: HTTP {result.http_status}")
        log.warning("Upload-Post asks for a pause: nothing is sent until %s", until.isoformat())
