"""The webhook planner: for each enabled endpoint, reads the event log after the endpoint's
cursor (never past a transaction still running: see events_after) and owes the endpoint a
delivery for each event it wants, moving its cursor past every event read, all in one
transaction under the endpoint's row lock (SKIP LOCKED: one replica plans an endpoint at a
time, the others plan the rest). An event is planned once per endpoint, and only once its
change has committed: a rolled-back change has no event to plan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

from queuelabs.clock import Clock
from uploader.storage import UploaderStore
from uploader.webhooks.domain import body_of

# How often it looks at the log: as often as WatchEvents' tail (the log tells nobody when it
# grows: LISTEN needs a session, which PgBouncer's transaction pooling does not keep). An idle
# look is one statement (endpoints with something to plan).
INTERVAL = timedelta(milliseconds=200)
# Events read per transaction (per endpoint): a backlog is worked through in short ones.
BATCH = 500


class WebhookPlanner:
    def __init__(
        self,
        store: UploaderStore,
        clock: Clock,
        wake_sender: Callable[[], None] = lambda: None,
        batch: int = BATCH,
    ) -> None:
        self._store = store
        self._clock = clock
        self._wake_sender = wake_sender
        self.batch = batch

    async def plan(self) -> int:
        """Plans every enabled endpoint's deliveries up to the log's horizon; how many. A batch
        per endpoint in turn, again for those whose batch was full: an endpoint far behind
        does not keep the others waiting."""
        async with self._store.transaction() as tx:
            behind = await tx.webhook_endpoints_to_plan()
        planned = 0
        while behind:
            full = []
            for endpoint_id in behind:
                read, owed = await self._plan_batch(endpoint_id)
                planned += owed
                if read == self.batch:
                    full.append(endpoint_id)
            if planned:
                self._wake_sender()
            behind = full
        return planned

    async def _plan_batch(self, endpoint_id: UUID) -> tuple[int, int]:
        """One batch of the endpoint's log, in one transaction: (events read, deliveries
        planned). Nothing when another replica plans it now, or it was disabled or deleted."""
        async with self._store.transaction() as tx:
            locked = await tx.lock_endpoint_to_plan(endpoint_id)
            if locked is None:
                return 0, 0
            spec, cursor = locked
            events = await tx.events_after(cursor, self.batch)
            owed = [(event, body_of(event)) for event in events if spec.wants(event)]
            await tx.plan_webhook_deliveries(endpoint_id, owed, self._clock.now())
            if events:
                await tx.advance_webhook_plan(endpoint_id, events[-1].cursor)
        return len(events), len(owed)

    async def turn(self) -> None:
        await self.plan()
