"""Every enum whose values a column stores, held equal to that column's CHECK constraint in a
migrated database, and no SQL file spelling one of those values itself (the statements name them
as `{placeholders}` that queuelabs/sql.py fills in from the enums)."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest

from queuelabs.lifecycle import ContentState
from queuelabs.sql import load_queries
from uploader.domain import AttemptKind, RequestKind, Unanswered, attempt_outcome
from uploader.outcomes import Outcome

ROOT = Path(__file__).resolve().parent.parent

# (table, CHECK constraint, the enums whose values the column may hold)
CHECKED: list[tuple[str, str, tuple[type[StrEnum], ...]]] = [
    ("contents", "contents_status_check", (ContentState,)),
    ("upload_attempts", "upload_attempts_kind_check", (AttemptKind,)),
    ("upload_attempts", "upload_attempts_outcome_check", (Outcome, Unanswered)),
    ("upload_post_requests", "upload_post_requests_kind_check", (RequestKind,)),
]


def values_of(*enums: type[StrEnum]) -> set[str]:
    return {member.value for enum in enums for member in enum}


def check_values(db, table: str, constraint: str) -> set[str]:
    row = db.execute(
        "select pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = %s::regclass and conname = %s",
        (table, constraint),
    ).fetchone()
    assert row is not None, f"{table} has no constraint {constraint}"
    return set(re.findall(r"'(\w+)'::text", row[0]))


@pytest.mark.parametrize(("table", "constraint", "enums"), CHECKED, ids=[c[1] for c in CHECKED])
def test_each_stored_enum_equals_its_columns_check_constraint(db, table, constraint, enums):
    assert check_values(db, table, constraint) == values_of(*enums)


def test_an_attempts_outcome_reads_back_as_the_enum_it_was_written_from():
    # The two enums share the column, so no value may mean two things.
    assert not values_of(Outcome) & values_of(Unanswered)
    for outcome in [*Outcome, *Unanswered]:
        assert attempt_outcome(outcome.value) is outcome


def test_no_sql_file_spells_a_stored_value_of_its_own():
    spelled_anywhere = "|".join(sorted(values_of(*{e for *_, enums in CHECKED for e in enums})))
    for path in sorted(ROOT.glob("*/*.sql")):
        spelled = re.findall(rf"'({spelled_anywhere})'", path.read_text())
        assert not spelled, f"{path.name} spells {spelled}; name it as a {{placeholder}} instead"


def test_a_named_value_is_written_out_as_constants(tmp_path):
    sql = tmp_path / "q.sql"
    sql.write_text("-- q --\nselect 1 where kind = {post} and outcome in ({gone});\n")
    query = load_queries(sql, {"post": RequestKind.POST, "gone": frozenset(Unanswered)})["q"]
    assert query == "select 1 where kind = 'post' and outcome in ('interrupted', 'lost');"
