"""A database of its own for one benchmark run: on BENCH_DATABASE_URL, DATABASE_URL, or an
embedded PostgreSQL; migrated; dropped at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from queuelabs.database import EmbeddedPostgres, migrate
from queuelabs.lifecycle import SLOT_HOLDING


@contextmanager
def bench_database() -> Iterator[str]:
    server_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
    embedded = None
    scratch = None
    if not server_url:
        scratch = Path(tempfile.mkdtemp(prefix="queuelabs-bench-"))
        embedded = EmbeddedPostgres(scratch / "pgdata", delete_on_stop=True)
        server_url = embedded.start()
    name = f"queuelabs_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        database_url = make_conninfo(server_url, dbname=name)
        migrate(database_url)
        yield database_url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
        if embedded:
            embedded.stop()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def slots_held(database_url: str) -> tuple[int, dict[str, tuple[datetime, str]]]:
    """After a run: how many slots hold two or more contents, and each content's instant and
    slot id, by content id."""
    with psycopg.connect(database_url) as conn:
        stacked = conn.execute(
            "select count(*) from (select 1 from contents where status = any(%s)"
            " group by profile_id, platform, scheduled_at having count(*) > 1) s",
            ([s.value for s in SLOT_HOLDING],),
        ).fetchone()
        rows = conn.execute(
            "select content_id::text, scheduled_at, slot_id::text from contents"
        ).fetchall()
    assert stacked is not None
    return int(stacked[0]), {content_id: (at, slot) for content_id, at, slot in rows}
