"""A database of its own for one benchmark run: on BENCH_DATABASE_URL, DATABASE_URL, or an
embedded PostgreSQL; migrated, with a long history when asked; dropped at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.history import history_template
from queuelabs.database import EmbeddedPostgres, migrate
from queuelabs.lifecycle import SLOT_HOLDING
from queuelabs.sql import sql_values


@contextmanager
def postgres_server(*variables: str, prefix: str = "queuelabs-bench-") -> Iterator[str]:
    """A PostgreSQL server's URL: the first of these environment variables that is set, or an
    embedded server of this run's own (its files in a temporary directory named `prefix`...),
    stopped and removed at the end."""
    for variable in variables:
        if server_url := os.environ.get(variable):
            yield server_url
            return
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    embedded = EmbeddedPostgres(scratch / "pgdata", delete_on_stop=True)
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def bench_server() -> AbstractContextManager[str]:
    """The server benchmarks run on: BENCH_DATABASE_URL, DATABASE_URL, or an embedded one."""
    return postgres_server("BENCH_DATABASE_URL", "DATABASE_URL")


@contextmanager
def fresh_database(server_url: str, template: str | None = None) -> Iterator[str]:
    """A database of its own on `server_url`, migrated (or a file copy of `template`, a
    migrated database), dropped at the end."""
    name = f"queuelabs_bench_{uuid.uuid4().hex[:8]}"
    create = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" template {} strategy file_copy").format(sql.Identifier(template))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(create)
    try:
        database_url = make_conninfo(server_url, dbname=name)
        if not template:
            migrate(database_url)
        yield database_url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


@contextmanager
def bench_database(history: int = 0) -> Iterator[str]:
    """A fresh migrated database for one benchmark run, holding `history` finished contents
    (bench.history) when asked."""
    with bench_server() as server_url, ExitStack() as stack:
        template = stack.enter_context(history_template(server_url, history)) if history else None
        yield stack.enter_context(fresh_database(server_url, template))


def slots_held(
    database_url: str, content_ids: Iterable[str]
) -> tuple[int, dict[str, tuple[datetime, str]]]:
    """After a run: how many slots hold two or more contents, and the instant and slot id of
    each of `content_ids`, by content id."""
    with psycopg.connect(database_url) as conn:
        stacked = conn.execute(
            "select count(*) from (select 1 from contents"
            f" where status in ({sql_values(SLOT_HOLDING)})"
            " group by profile_id, platform, scheduled_at having count(*) > 1) s"
        ).fetchone()
        rows = conn.execute(
            "select content_id::text, scheduled_at, slot_id::text from contents"
            " where content_id = any(%s::uuid[])",
            (list(content_ids),),
        ).fetchall()
    assert stacked is not None
    return int(stacked[0]), {content_id: (at, slot) for content_id, at, slot in rows}


def count_in(database_url: str, content_ids: Sequence[object], states: Iterable[str]) -> int:
    """How many of `content_ids` are in one of `states`."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(*) from contents where status = any(%s) and content_id = any(%s::uuid[])",
            ([str(state) for state in states], list(content_ids)),
        ).fetchone()
    assert row is not None
    return int(row[0])
