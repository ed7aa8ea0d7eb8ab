"""The webhook pruner on a real PostgreSQL: deliveries done with and attempts older than the
retention go, a batch per transaction; a delivery still owed stays, however old."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.receiver import Reply, always, receiving
from tests.support.webhooks import open_hooks, tell
from uploader.workers.webhook_pruner import WebhookPruner

RETENTION = timedelta(days=30)


@pytest.fixture
async def hooks(database_url):
    async with open_hooks(database_url) as opened:
        yield opened


def counts(db) -> tuple[int, int, int]:
    """(deliveries done with, deliveries owed, attempts)."""
    row = db.execute(
        "select count(*) filter (where delivered_at is not null or given_up_at is not null),"
        " count(*) filter (where delivered_at is null and given_up_at is null),"
        " (select count(*) from webhook_attempts) from webhook_deliveries"
    ).fetchone()
    return row[0], row[1], row[2]


async def test_what_is_done_with_goes_after_the_retention_and_what_is_owed_stays(hooks, db):
    async with receiving() as fine, receiving(always(Reply.ERROR)) as failing:
        await hooks.endpoint(fine)
        await hooks.endpoint(failing)
        tell(db, 5)
        await hooks.plan(10)
        await hooks.deliver(hooks.sender())
    assert counts(db) == (5, 5, 10)  # five delivered; five failed once, owed again
    pruner = WebhookPruner(hooks.store, hooks.clock, RETENTION, batch=2)
    hooks.clock.advance(RETENTION - timedelta(seconds=1))
    assert await pruner.prune() == 0
    hooks.clock.advance(timedelta(seconds=2))
    assert await pruner.prune() == 5 + 10  # in batches of two, until both come back short
    assert counts(db) == (0, 5, 0)
