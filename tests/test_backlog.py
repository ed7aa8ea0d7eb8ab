"""The backlog gauge on a real PostgreSQL with a FakeClock: what is due and unclaimed, per
platform."""

from __future__ import annotations

from datetime import timedelta

from queuelabs.platforms import Platform
from uploader.workers.backlog import BacklogGauge


async def test_the_backlog_gauge_counts_what_is_due_per_platform(harness):
    profile_id = await harness.profile((Platform.TIKTOK, Platform.INSTAGRAM))
    await harness.assign(profile_id, 3)
    await harness.assign(profile_id, 1, Platform.INSTAGRAM)
    gauge = BacklogGauge(harness.store, harness.clock)
    assert await gauge.measure() == {}
    harness.clock.advance(timedelta(hours=2))
    assert await gauge.measure() == {Platform.TIKTOK: 2, Platform.INSTAGRAM: 1}
