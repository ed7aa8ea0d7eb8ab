"""`queuelabs check`: a clean database passes; each defect, planted by SQL, is found with its ids
and makes the command exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.processes import QUEUELABS

NOW = datetime.now(UTC)
LONG_AGO = NOW - timedelta(hours=2)


def check(database_url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [*QUEUELABS, "check", "--database-url", database_url, *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def add_profile(db) -> uuid.UUID:
    profile_id = uuid.uuid4()
    db.execute(
        "insert into profiles (profile_id, name, upload_post_user, timezone, created_at,"
        " updated_at) values (%s, 'Audited', 'audited', 'UTC', now(), now())",
        (profile_id,),
    )
    db.execute(
        "insert into schedules (profile_id, platform, materialized_until, updated_at)"
        " values (%s, 'tiktok', %s, now())",
        (profile_id, NOW + timedelta(days=30)),
    )
    return profile_id


def add_content(db, profile_id: uuid.UUID, status: str, at: datetime, **extra) -> uuid.UUID:
    content_id = uuid.uuid4()
    columns = {
        "content_id": content_id,
        "profile_id": profile_id,
        "platform": "tiktok",
        "status": status,
        "slot_id": uuid.uuid4(),
        "scheduled_at": at,
        "media_type": "video",
        "media_url": "https://cdn.example.com/a.mp4",
        "created_at": NOW,
        "updated_at": NOW,
        **extra,
    }
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    db.execute(f"insert into contents ({names}) values ({marks})", list(columns.values()))
    return content_id


def add_success(db, content_id: uuid.UUID, request_id: str) -> None:
    db.execute(
        "insert into upload_successes (content_id, platform, request_id, uploaded_at)"
        " values (%s, 'tiktok', %s, now())",
        (content_id, request_id),
    )


def test_a_healthy_database_passes(database_url, db):
    profile_id = add_profile(db)
    add_content(db, profile_id, "scheduled", NOW + timedelta(hours=1))
    published = add_content(db, profile_id, "uploaded", LONG_AGO, uploaded_at=LONG_AGO)
    add_success(db, published, "req-1")
    db.execute(
        "insert into free_slots (profile_id, platform, scheduled_at, slot_id)"
        " values (%s, 'tiktok', %s, %s)",
        (profile_id, NOW + timedelta(hours=2), uuid.uuid4()),
    )
    result = check(database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no findings" in result.stdout


def plant_stacked_slot(db, profile_id):
    db.execute("drop index contents_one_active_per_slot")
    at = NOW + timedelta(hours=3)
    return [add_content(db, profile_id, "scheduled", at) for _ in range(2)]


def plant_two_successes(db, profile_id):
    db.execute("drop index upload_successes_one_per_content")
    content_id = add_content(db, profile_id, "uploaded", LONG_AGO, uploaded_at=LONG_AGO)
    add_success(db, content_id, "req-a")
    add_success(db, content_id, "req-b")
    return [content_id]


def plant_uploaded_without_success(db, profile_id):
    return [add_content(db, profile_id, "uploaded", LONG_AGO, uploaded_at=LONG_AGO)]


def plant_success_not_uploaded(db, profile_id):
    content_id = add_content(db, profile_id, "retry_pending", LONG_AGO, next_retry_at=NOW)
    add_success(db, content_id, "req-c")
    return [content_id]


def plant_lease_expired(db, profile_id):
    lease = {"lease_owner": "uploader-gone", "lease_expires_at": LONG_AGO}
    return [add_content(db, profile_id, "uploading", LONG_AGO, **lease)]


def plant_overdue(db, profile_id):
    slots = [LONG_AGO - timedelta(minutes=n) for n in range(3)]  # one content a slot
    return [
        add_content(db, profile_id, "unknown_outcome", slots[0], next_retry_at=LONG_AGO),
        add_content(db, profile_id, "retry_pending", slots[1], next_retry_at=LONG_AGO),
        add_content(db, profile_id, "scheduled", slots[2]),
    ]


def plant_inventory_offers_spent(db, profile_id):
    at = NOW + timedelta(hours=4)
    content_id = add_content(db, profile_id, "scheduled", at)
    db.execute(
        "insert into free_slots (profile_id, platform, scheduled_at, slot_id)"
        " values (%s, 'tiktok', %s, %s)",
        (profile_id, at, uuid.uuid4()),
    )
    return [content_id]


def plant_inventory_past_its_mark(db, profile_id):
    db.execute(
        "insert into free_slots (profile_id, platform, scheduled_at, slot_id)"
        " values (%s, 'tiktok', %s, %s)",
        (profile_id, NOW + timedelta(days=40), uuid.uuid4()),
    )
    return [profile_id]


PLANTS = {
    "stacked_slot": plant_stacked_slot,
    "two_successes": plant_two_successes,
    "uploaded_without_success": plant_uploaded_without_success,
    "success_not_uploaded": plant_success_not_uploaded,
    "lease_expired": plant_lease_expired,
    "overdue": plant_overdue,
    "inventory_offers_spent": plant_inventory_offers_spent,
    "inventory_past_its_mark": plant_inventory_past_its_mark,
}


def test_every_kind_of_finding_has_a_planted_defect():
    from queuelabs.audit import MEANING

    assert set(PLANTS) == set(MEANING)


@pytest.mark.parametrize("kind", list(PLANTS))
def test_a_planted_defect_is_found_with_its_ids(database_url, db, kind):
    profile_id = add_profile(db)
    planted = PLANTS[kind](db, profile_id)
    result = check(database_url)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(f"{kind}:")]
    assert lines, result.stdout
    for planted_id in planted:
        assert any(str(planted_id) in line for line in lines), (planted_id, result.stdout)
    # The same findings as JSON, one object a line, for alerting.
    as_json = check(database_url, "--json")
    assert as_json.returncode == 1
    found = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {f["finding"] for f in found} == {kind}


def test_a_threshold_decides_what_counts_as_stuck(database_url, db):
    profile_id = add_profile(db)
    # Late as of now, not as of when the module loaded: a suite that reaches this test minutes
    # later (a loaded machine) must not make it later still.
    five_late = datetime.now(UTC) - timedelta(minutes=5)
    add_content(db, profile_id, "retry_pending", LONG_AGO, next_retry_at=five_late)
    assert check(database_url).returncode == 0  # 5 minutes late is within the default 10
    assert check(database_url, "--stuck-after", "60").returncode == 1


@pytest.mark.parametrize(
    ("hold", "looks_go_on"),
    [
        (
            "insert into paused_keys (profile_id, platform, paused_at)"
            " values (%s, 'tiktok', now())",
            False,  # a pause stops everything of the key, look-ups too
        ),
        (
            "insert into accounts (profile_id, platform, reconnect_since)"
            " values (%s, 'tiktok', now())",
            True,
        ),
        (
            "insert into accounts (profile_id, platform, capped_until)"
            " values (%s, 'tiktok', now() + interval '1 hour')",
            True,
        ),
    ],
    ids=["paused", "to reconnect", "cap full"],
)
def test_what_waits_on_purpose_is_not_overdue_but_a_look_up_behind_it_is(
    database_url, db, hold, looks_go_on
):
    profile_id = add_profile(db)
    add_content(db, profile_id, "scheduled", LONG_AGO)
    add_content(
        db, profile_id, "retry_pending", LONG_AGO - timedelta(hours=1), next_retry_at=LONG_AGO
    )
    db.execute(hold, (profile_id,))
    assert check(database_url).returncode == 0, check(database_url).stdout
    # A job's look-up goes on whatever the account: one left waiting is stuck.
    late = add_content(
        db, profile_id, "processing", LONG_AGO - timedelta(hours=2), next_retry_at=LONG_AGO
    )
    result = check(database_url)
    if not looks_go_on:
        assert result.returncode == 0, result.stdout
        return
    assert result.returncode == 1
    assert any(
        line.startswith("overdue:") and str(late) in line for line in result.stdout.splitlines()
    )


def test_an_unreachable_database_is_said_plainly(database_url):
    result = check("postgresql://nobody:hunter2-secret@127.0.0.1:1/none")
    assert result.returncode != 0
    assert "cannot connect to PostgreSQL" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
