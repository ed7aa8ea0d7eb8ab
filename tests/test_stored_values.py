"""Every enum whose values a column stores, held equal to that column's CHECK constraint in a
migrated database (the content states: tests/test_lifecycle.py), and the one way those values
reach the SQL: named as `{placeholders}` that queuelabs/sql.py fills in from the enums and the
lifecycle's sets, never spelled in a statement, never passed as a parameter."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest

from queuelabs.events import EventType
from queuelabs.lifecycle import ContentState, Event
from queuelabs.sql import by_event, load_queries
from uploader.domain import AttemptKind, RequestKind, Unanswered, attempt_outcome
from uploader.outcomes import Outcome

ROOT = Path(__file__).resolve().parent.parent
SQL_FILES = sorted(ROOT.glob("*/*.sql"))
PRODUCT = ("queuelabs", "allocator", "uploader", "sandbox", "commands")

# A status compared with, or set from, a query parameter (`= %(x)s`, `= any(%s)`, `in (%s)`).
STATUS_FROM_A_PARAMETER = re.compile(
    r"\bstatus\s*(?:=|<>|!=)\s*(?:any\s*\(\s*)?%|\bstatus\s+(?:not\s+)?in\s*\(\s*%", re.I
)
# The only statement that may: its states are the caller's own filter (ListUploads), not a set
# of the lifecycle's.
CALLERS_FILTER = {("uploader", "list_contents")}

# (table, CHECK constraint, the enums whose values the column may hold)
CHECKED: list[tuple[str, str, tuple[type[StrEnum], ...]]] = [
    ("upload_attempts", "upload_attempts_kind_check", (AttemptKind,)),
    ("upload_attempts", "upload_attempts_outcome_check", (Outcome, Unanswered)),
    ("upload_post_requests", "upload_post_requests_kind_check", (RequestKind,)),
    ("events", "events_type_check", (EventType,)),
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
    return set(re.findall(r"'([\w.]+)'::text", row[0]))


@pytest.mark.parametrize(("table", "constraint", "enums"), CHECKED, ids=[c[1] for c in CHECKED])
def test_each_stored_enum_equals_its_columns_check_constraint(db, table, constraint, enums):
    assert check_values(db, table, constraint) == values_of(*enums)


def test_an_attempts_outcome_reads_back_as_the_enum_it_was_written_from():
    # The two enums share the column, so no value may mean two things.
    assert not values_of(Outcome) & values_of(Unanswered)
    for outcome in [*Outcome, *Unanswered]:
        assert attempt_outcome(outcome.value) is outcome


def test_no_sql_file_spells_a_stored_value_of_its_own():
    stored: list[type[StrEnum]] = [ContentState, *(e for *_, enums in CHECKED for e in enums)]
    spelled_anywhere = "|".join(sorted(values_of(*stored)))
    for path in SQL_FILES:
        spelled = re.findall(rf"'({spelled_anywhere})'", path.read_text())
        assert not spelled, f"{path.name} spells {spelled}; name it as a {{placeholder}} instead"


def test_a_named_value_is_written_out_as_constants(tmp_path):
    sql = tmp_path / "q.sql"
    sql.write_text("-- q --\nselect 1 where kind = {post} and outcome in ({gone});\n")
    query = load_queries(sql, {"post": RequestKind.POST, "gone": frozenset(Unanswered)})["q"]
    assert query == "select 1 where kind = 'post' and outcome in ('interrupted', 'lost');"


def statements(path: Path) -> list[tuple[str, str]]:
    parts = re.split(r"^-- (\w+) --$", path.read_text(), flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_no_statement_takes_a_set_of_states_as_a_parameter():
    for path in SQL_FILES:
        for name, body in statements(path):
            if (path.parent.name, name) not in CALLERS_FILTER:
                found = STATUS_FROM_A_PARAMETER.findall(body)
                assert not found, f"{path.parent.name}/{path.name} {name}: {found}; name a {{set}}"
    for package in PRODUCT:  # SQL written inline, outside the .sql files
        for path in (ROOT / package).rglob("*.py"):
            found = STATUS_FROM_A_PARAMETER.findall(path.read_text())
            assert not found, f"{path.relative_to(ROOT)}: {found}; write the set with sql_values"


def test_a_statement_that_carries_out_an_event_is_loaded_once_per_event(tmp_path):
    sql = tmp_path / "q.sql"
    sql.write_text("-- move --\nupdate t set status = {target} where status in ({sources});\n")
    queries = load_queries(sql)
    assert queries[by_event("move", Event.CLAIM)] == (
        "update t set status = 'uploading' where status in ('retry_pending', 'scheduled');"
    )
    assert set(queries) == {by_event("move", event) for event in Event}
