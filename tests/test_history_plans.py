"""History does not slow the hot path: on a database holding a long history (200,000 finished
contents of 1,000 profiles with their attempts and success records, seeded set-based), every
statement the services run for the hot path (take a slot and insert, claim due, next due,
rescue, the success check, a profile's queue) is planned through an index. The statements are
the ones the services really ran in a short workload (recorded as they ran, with their
parameters); each is EXPLAINed, and a sequential scan of a big table fails the test.

The end-to-end benchmarks at a 2-million-content history against an empty database are
`bench/history_cost.py`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bench.history import HISTORY_PROFILE, seed_history
from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.sql import QueryRunner
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, video
from tests.support.stack import running_stack, settled
from uploader.storage import UploaderStore
from uploader.workers.rescuer import Rescuer

# HISTORY_CONTENTS=2000000 for the full size (about 3 minutes more to seed).
CONTENTS = int(os.environ.get("HISTORY_CONTENTS", 200_000))
PROFILES = 1_000
BIG = {"contents", "upload_attempts", "upload_successes"}
HOT = {
    "take_and_insert",  # take a slot and insert the content
    "claim_to_publish",  # claim due
    "next_due",
    "rescue_expired",
    "success_of",
    "settle/succeed",  # the publish's outcome, with its event (the success record joined)
    "list_assignments",  # a profile's queue (Allocator)
    "list_contents",  # a profile's uploads (Uploader)
}


def seed(database_url: str) -> str:
    """The history (bench.history: finished contents, their attempts and success records, all
    the ways a content finishes); returns one of its profiles' id."""
    seed_history(database_url, CONTENTS, profiles=PROFILES)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select profile_id::text from profiles where name like %s limit 1",
            (HISTORY_PROFILE + "%",),
        ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Every named statement the services run in this process: (name, SQL, parameters)."""
    seen: list[tuple[str, str, dict[str, Any]]] = []
    rows, tuples = QueryRunner._rows, QueryRunner._tuples

    async def recording_rows(self: QueryRunner, query: str, /, **params: Any) -> Any:
        seen.append((query, self._queries[query], dict(params)))
        return await rows(self, query, **params)

    async def recording_tuples(self: QueryRunner, query: str, /, **params: Any) -> Any:
        seen.append((query, self._queries[query], dict(params)))
        return await tuples(self, query, **params)

    monkeypatch.setattr(QueryRunner, "_rows", recording_rows)
    monkeypatch.setattr(QueryRunner, "_tuples", recording_tuples)
    return seen


def scans(plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(node type, relation) of every node of a plan."""
    yield plan["Node Type"], plan.get("Relation Name", "")
    for child in plan.get("Plans", []):
        yield from scans(child)


async def test_every_hot_statement_is_index_bound_under_a_long_history(database_url, recorded):
    profile_id = seed(database_url)
    async with running_stack(database_url) as stack:
        await stack.allocator.SetSchedule(
            apb.SetScheduleRequest(
                profile_id=profile_id,
                platform=apb.PLATFORM_TIKTOK,
                slots=[apb.Slot(local_time="06:00"), apb.Slot(local_time="18:00")],
            )
        )
        contents = [await assign(stack.allocator, profile_id, video()) for _ in range(3)]
        for content in contents:
            assert (await settled(stack, content.content_id)).state == upb.UPLOAD_STATE_UPLOADED
        await stack.uploader.ListUploads(upb.ListUploadsRequest(profile_id=profile_id))
        await stack.allocator.ListAssignments(apb.ListAssignmentsRequest(profile_id=profile_id))
        await Rescuer(UploaderStore(stack.uploader_server.pool), stack.clock).rescue_expired()

    names = {name for name, _, _ in recorded}
    assert names >= HOT, f"not run by the workload: {sorted(HOT - names)}"
    found = []
    with psycopg.connect(database_url) as conn:
        for name, sql, params in recorded:
            if name not in HOT:
                continue
            row = conn.execute(f"explain (format json) {sql}", params).fetchone()
            assert row is not None
            [plan] = row[0]
            for node, relation in scans(plan["Plan"]):
                if node == "Seq Scan" and relation in BIG:
                    found.append(f"{name}: a sequential scan of {relation}")
            conn.rollback()
    assert found == [], json.dumps(sorted(set(found)), indent=1)
