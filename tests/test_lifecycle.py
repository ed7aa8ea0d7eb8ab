"""The content state machine, and its agreement with the database's unique index."""

from __future__ import annotations

import re

import pytest

from queuelabs.lifecycle import (
    FINAL,
    SLOT_HOLDING,
    TRANSITIONS,
    ContentState,
    Event,
    IllegalMove,
    next_state,
)


def test_the_unique_index_covers_exactly_the_slot_holding_states(db):
    definition = db.execute(
        "select indexdef from pg_indexes where indexname = 'contents_one_active_per_slot'"
    ).fetchone()[0]
    in_index = set(re.findall(r"'(\w+)'::text", definition))
    assert in_index == {s.value for s in SLOT_HOLDING}


def test_the_status_check_constraint_lists_every_state(db):
    definition = db.execute(
        "select pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = 'contents'::regclass and conname = 'contents_status_check'"
    ).fetchone()[0]
    assert set(re.findall(r"'(\w+)'::text", definition)) == {s.value for s in ContentState}


def test_final_states_have_no_way_out():
    for event, (sources, _) in TRANSITIONS.items():
        assert not sources & FINAL, f"{event} leaves a final state"


def test_every_state_is_reachable_from_scheduled():
    reached = {ContentState.SCHEDULED}
    while True:
        more = {target for sources, target in TRANSITIONS.values() if sources & reached}
        if more <= reached:
            break
        reached |= more
    assert reached == set(ContentState)


def test_a_lost_call_never_goes_straight_back_in_line():
    assert next_state(ContentState.UPLOADING, Event.LOSE_TRACK) is ContentState.UNKNOWN_OUTCOME
    with pytest.raises(IllegalMove):
        next_state(ContentState.UNKNOWN_OUTCOME, Event.RESCHEDULE)
    with pytest.raises(IllegalMove):
        next_state(ContentState.UNKNOWN_OUTCOME, Event.CLAIM)


def test_an_illegal_move_says_what_would_be_allowed():
    with pytest.raises(IllegalMove) as refused:
        next_state(ContentState.UPLOADED, Event.RELEASE)
    assert str(refused.value) == (
        "content is uploaded; release needs one of: failed, retry_pending, scheduled"
    )
