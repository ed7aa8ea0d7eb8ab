"""The content state machine, and its agreement with the database and the SQL that filters on it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from queuelabs.lifecycle import (
    CLAIMS,
    FINAL,
    IN_LINE,
    LEASED,
    ON_A_JOB,
    SLOT_HOLDING,
    TRANSITIONS,
    ContentState,
    Event,
    IllegalMove,
    next_state,
    sources,
    target,
)
from queuelabs.sql import by_event
from uploader.storage import QUERIES as UPLOADER_QUERIES

ROOT = Path(__file__).resolve().parent.parent


def index_states(db, name: str) -> set[str]:
    definition = db.execute(
        "select indexdef from pg_indexes where indexname = %s", (name,)
    ).fetchone()[0]
    return set(re.findall(r"'(\w+)'::text", definition))


def test_the_unique_index_covers_exactly_the_slot_holding_states(db):
    assert index_states(db, "contents_one_active_per_slot") == {s.value for s in SLOT_HOLDING}


def test_the_due_index_covers_exactly_what_a_claim_takes_from(db):
    assert index_states(db, "contents_due") == {s.value for s in IN_LINE}


def test_the_index_a_webhook_looks_in_covers_exactly_the_states_with_a_call_out(db):
    assert index_states(db, "contents_on_a_job") == {s.value for s in ON_A_JOB}


def test_the_status_check_constraint_lists_every_state(db):
    definition = db.execute(
        "select pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = 'contents'::regclass and conname = 'contents_status_check'"
    ).fetchone()[0]
    assert set(re.findall(r"'(\w+)'::text", definition)) == {s.value for s in ContentState}


def test_the_uploaders_sql_filters_on_the_tables_sets():
    def listed(query: str) -> list[set[str]]:
        return [
            set(re.findall(r"'(\w+)'", group))
            for group in re.findall(r"status in \(([^)]*)\)", UPLOADER_QUERIES[query])
        ]

    def states(*events: Event) -> set[str]:
        return {s.value for e in events for s in sources(e)}

    in_line = {s.value for s in IN_LINE}
    # picked (and its account with no job out: one job at a time per account), then locked
    on_a_job = {s.value for s in ON_A_JOB}
    assert listed("claim_to_publish") == [states(Event.CLAIM), on_a_job, states(Event.CLAIM)]
    for event in CLAIMS[1:]:
        assert listed(by_event("claim_to_hold", event)) == [states(event)]
    assert states(*CLAIMS) == in_line
    # in line, and of those the ones a held account keeps back: what a claim to publish takes
    assert listed("next_due") == [in_line, states(Event.CLAIM)]
    assert listed("due_backlog") == [in_line, states(Event.CLAIM)]  # less what is held
    assert listed("rescue_expired") == [{s.value for s in LEASED}]
    assert f"set status = '{target(Event.CLAIM).value}'" in UPLOADER_QUERIES["claim_to_publish"]
    assert f"set status = '{target(Event.LOSE_TRACK).value}'" in UPLOADER_QUERIES["rescue_expired"]
    for event in Event:  # a content moves by an event only from where the table lets it
        settle = UPLOADER_QUERIES[by_event("settle", event)]
        assert listed(by_event("settle", event)) == [states(event)]
        assert f"set status = '{target(event).value}'" in settle


def test_the_claims_that_call_nothing_keep_their_state():
    # claim_to_reconcile and claim_to_move rely on it: they only take a lease.
    for event in CLAIMS[1:]:
        assert sources(event) == {target(event)}


def test_final_states_have_no_way_out():
    for event, (from_states, _) in TRANSITIONS.items():
        assert not from_states & FINAL, f"{event} leaves a final state"


def test_every_state_is_reachable_from_scheduled():
    reached = {ContentState.SCHEDULED}
    while True:
        more = {to for from_states, to in TRANSITIONS.values() if from_states & reached}
        if more <= reached:
            break
        reached |= more
    assert reached == set(ContentState)


def test_every_state_but_the_final_ones_has_a_way_on():
    for state in set(ContentState) - FINAL:
        assert any(state in sources(e) and target(e) is not state for e in Event), state


def test_a_lost_call_never_goes_straight_back_in_line():
    assert next_state(ContentState.UPLOADING, Event.LOSE_TRACK) is ContentState.UNKNOWN_OUTCOME
    with pytest.raises(IllegalMove):
        next_state(ContentState.UNKNOWN_OUTCOME, Event.RESCHEDULE)
    with pytest.raises(IllegalMove):
        next_state(ContentState.UNKNOWN_OUTCOME, Event.CLAIM)


def test_waiting_for_a_new_slot_is_left_only_through_the_allocator_or_a_failure():
    ways_out = {
        e
        for e in Event
        if ContentState.AWAITING_SLOT in sources(e) and target(e) is not ContentState.AWAITING_SLOT
    }
    assert ways_out == {Event.RESCHEDULE, Event.RELEASE, Event.FAIL}
    with pytest.raises(IllegalMove):  # never published from there: it has no slot to publish in
        next_state(ContentState.AWAITING_SLOT, Event.CLAIM)


def test_an_illegal_move_says_what_would_be_allowed():
    with pytest.raises(IllegalMove) as refused:
        next_state(ContentState.UPLOADED, Event.RELEASE)
    assert str(refused.value) == (
        "content is uploaded; release needs one of: awaiting_slot, failed, retry_pending, scheduled"
    )


def test_a_refusal_for_the_wrong_state_is_worded_in_one_place():
    # needs_one_of builds it; the services and IllegalMove call it rather than spell it again.
    for package in ("queuelabs", "allocator", "uploader", "sandbox", "commands"):
        for path in (ROOT / package).rglob("*.py"):
            if path != ROOT / "queuelabs" / "lifecycle.py":
                assert "needs one of" not in path.read_text(), f"{path} words it again"
