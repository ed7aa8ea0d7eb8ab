"""Named SQL: statements live in .sql files under `-- name --` headers and are run by name.

Every stored value a statement filters on (a set of states, an attempt's kind) reaches the SQL
one way: the statement names it as `{name}`, and `load_queries` writes it out as constants from
the enum or set the code defines it by (queuelabs/lifecycle.py for states). The SQL never spells
a value of its own, and the planner still sees constants, which a partial index's predicate
needs to be matched (a parameter would hide them). A statement that carries out an event,
whichever it is, names `{sources}` and `{target}`: it is loaded once per event, and run by the
name `by_event(name, event)` gives. Such a statement also writes the move's event to the log
as `{told}`: the type queuelabs/events.TOLD gives the move, or `null` for a move callers are not
told of (the statement then writes no event: `where {told} is not null`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
from opentelemetry.trace import SpanKind
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from queuelabs import tracing
from queuelabs.database import lock_timeout_ms
from queuelabs.errors import Conflict, DatabaseUnavailable
from queuelabs.events import told
from queuelabs.lifecycle import Event, sources, target

# One stored value, or a set of them (a state, the states an event may happen in).
SqlValues = StrEnum | AbstractSet[StrEnum]


def sql_values(values: SqlValues) -> str:
    """`values` as a comma-separated list of SQL string constants, sorted: what `in (...)` takes."""
    chosen = [values] if isinstance(values, StrEnum) else sorted(values)
    if not chosen:
        raise ValueError("an empty set has no SQL list (`in ()` is not SQL)")
    return ", ".join("'" + str(value.value).replace("'", "''") + "'" for value in chosen)


def by_event(name: str, event: Event) -> str:
    """The name statement `name` is run by when it carries out `event`."""
    return f"{name}/{event.name.lower()}"


def load_queries(path: Path, values: Mapping[str, SqlValues] | None = None) -> dict[str, str]:
    """The statements of `path` by name, each `{name}` replaced by the values named so; one that
    names `{sources}` or `{target}` once per event, under the name `by_event` gives, with the
    event's `{told}` (null when callers are not told of it)."""
    parts = re.split(r"^-- (\w+) --$", path.read_text(), flags=re.MULTILINE)
    named = values or {}

    def filled(body: str, values: Mapping[str, SqlValues | None]) -> str:
        def literal(match: re.Match[str]) -> str:
            value = values[match.group(1)]  # KeyError: the SQL names a list nobody gave
            return "null" if value is None else sql_values(value)

        return re.sub(r"\{([a-z_]+)\}", literal, body.strip())

    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if "{sources}" in body or "{target}" in body:
            for event in Event:
                moves: dict[str, SqlValues | None] = {
                    **named,
                    "sources": sources(event),
                    "target": target(event),
                    "told": told(event),
                }
                queries[by_event(name, event)] = filled(body, moves)
        else:
            queries[name] = filled(body, named)
    return queries


@asynccontextmanager
async def pooled_transaction(
    pool: AsyncConnectionPool,
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection from `pool` inside a transaction; an unreachable database or an exhausted
    pool becomes DatabaseUnavailable (UNAVAILABLE: safe to retry)."""
    try:
        with tracing.span(
            "postgresql transaction", SpanKind.CLIENT, {"db.system": "postgresql"}
        ) as span:
            try:
                async with pool.connection() as conn, conn.transaction():
                    timeout = lock_timeout_ms(pool)
                    if timeout is not None:  # per transaction: nothing outlives one (PgBouncer)
                        await conn.execute(f"set local lock_timeout = {timeout}")
                    yield conn
            except Exception as failure:
                tracing.failed(span, type(failure).__name__)
                raise
    except PoolTimeout as exc:
        raise DatabaseUnavailable("no database connection came free in time; retry") from exc
    except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
        raise Conflict(
            "a concurrent request conflicted with this one; nothing changed, retry"
        ) from exc
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable("the database is unreachable; retry") from exc


class QueryRunner:
    """Runs named statements on one connection, rows as dicts."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], queries: dict[str, str]) -> None:
        self._conn = conn
        self._queries = queries

    async def _rows(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        async with self._conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._queries[query], params)
            return await cur.fetchall() if cur.description else []

    async def _tuples(self, query: str, /, **params: Any) -> list[tuple[Any, ...]]:
        """Rows as plain tuples: for statements that return many small rows."""
        async with self._conn.cursor() as cur:
            await cur.execute(self._queries[query], params)
            return await cur.fetchall() if cur.description else []

    async def _row(self, query: str, /, **params: Any) -> dict[str, Any] | None:
        rows = await self._rows(query, **params)
        return rows[0] if rows else None
