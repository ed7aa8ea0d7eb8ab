"""The webhook parts on a real PostgreSQL, for the planner and sender tests: the storage, a
FakeClock set to the real time (receivers check a webhook's timestamp against their own clock),
the endpoints' service, and events written into the log as the services write them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from queuelabs.clock import FakeClock
from queuelabs.database import open_pool
from queuelabs.events import EventType
from tests.support.polling import until
from tests.support.receiver import Receiver
from uploader.settings import WebhookSettings
from uploader.storage import UploaderStore
from uploader.webhooks.domain import Endpoint, EndpointSpec
from uploader.webhooks.service import WebhookService
from uploader.workers.webhook_planner import BATCH, WebhookPlanner
from uploader.workers.webhook_sender import WebhookSender

SETTINGS = WebhookSettings(
    allow_private=True, timeout=1.0, lease=timedelta(seconds=30), max_in_flight=20
)


@dataclass
class Hooks:
    store: UploaderStore
    clock: FakeClock
    service: WebhookService
    database_url: str

    async def endpoint(
        self,
        receiver: Receiver,
        types: frozenset[EventType] = frozenset(),
        profile_ids: frozenset[UUID] = frozenset(),
    ) -> Endpoint:
        """An endpoint calling `receiver`, which is given its secret."""
        endpoint, secret = await self.service.create_endpoint(
            EndpointSpec(receiver.url, types, profile_ids, "test")
        )
        receiver.secrets = [secret]
        return endpoint

    async def plan(self, expected: int, batch: int = BATCH) -> None:
        """Plans deliveries until `expected` more are planned. The log's horizon is the server's
        oldest running transaction, in any database: another test's open one holds it back
        until it ends (a real wait, bounded as a hang)."""
        planner = WebhookPlanner(self.store, self.clock, batch=batch)
        planned = 0
        deadline = time.monotonic() + 60
        while planned < expected:
            planned += await planner.plan()
            if planned < expected:
                assert time.monotonic() < deadline, f"{planned} of {expected} planned"
                await asyncio.sleep(0.05)  # real: waits on other sessions' transactions
        assert planned == expected
        assert await planner.plan() == 0  # each event once

    def sender(self, worker: str = "w1", **settings: Any) -> WebhookSender:
        return WebhookSender(self.store, self.clock, worker, replace(SETTINGS, **settings))

    async def deliver(self, sender: WebhookSender) -> int:
        """One claim of what is due, and every delivery it started carried to its end."""
        claimed = await sender.send_due()
        await until(lambda: sender.in_flight == 0)
        return len(claimed)


@asynccontextmanager
async def open_hooks(database_url: str) -> AsyncIterator[Hooks]:
    clock = FakeClock(datetime.now(UTC))
    pool = await open_pool(database_url, 6, 5)
    store = UploaderStore(pool)
    try:
        yield Hooks(store, clock, WebhookService(store, clock, allow_private=True), database_url)
    finally:
        await pool.close()


def tell(
    db: Any,
    count: int = 1,
    type: EventType = EventType.UPLOAD_PUBLISHED,
    profile_id: UUID | None = None,
) -> list[str]:
    """Writes `count` events into the log in one committed transaction, as a change of a
    content would; returns their ids in log order."""
    ids = []
    with db.transaction():
        for _ in range(count):
            row = db.execute(
                "insert into events (type, occurred_at, content_id, profile_id, platform, data)"
                " values (%s, now(), %s, %s, 'tiktok', %s) returning event_id",
                (type.value, uuid4(), profile_id or uuid4(), json.dumps({"post_url": "u"})),
            ).fetchone()
            ids.append(str(row[0]))
    return ids
