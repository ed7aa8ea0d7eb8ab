"""The Allocator's moves check the content's state again in the statement that moves it (the
event's sources, from the lifecycle table): a content an uploader claimed after the Allocator
read it is neither moved nor released."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from allocator.errors import WrongState
from allocator.storage import AllocatorStore
from queuelabs.database import open_pool
from queuelabs.lifecycle import ContentState
from tests.conftest import T0
from tests.support.calls import assign, make_profile


async def test_a_content_claimed_after_it_was_read_is_neither_moved_nor_released(
    allocator, database_url, db
):
    profile_id = await make_profile(allocator)
    assigned = await assign(allocator, profile_id)
    content_id = UUID(assigned.content_id)
    # An uploader claims it between the Allocator's read and its write.
    db.execute(
        "update contents set status = %s where content_id = %s",
        (ContentState.UPLOADING.value, content_id),
    )
    before = db.execute("select * from contents where content_id = %s", (content_id,)).fetchone()
    later = assigned.scheduled_at.ToDatetime().replace(tzinfo=T0.tzinfo) + timedelta(days=1)
    pool = await open_pool(database_url, 2, 5)
    try:
        store = AllocatorStore(pool)
        with pytest.raises(WrongState):
            async with store.transaction() as tx:
                await tx.move_content(content_id, later, UUID(assigned.slot_id), "moved", T0)
        with pytest.raises(WrongState):
            async with store.transaction() as tx:
                await tx.remove_content(content_id, "released", T0)
    finally:
        await pool.close()
    after = db.execute("select * from contents where content_id = %s", (content_id,)).fetchone()
    assert after == before
