"""Creates and drops this test run's databases on one PostgreSQL server, and tells what their
sessions wait for."""

from __future__ import annotations

import itertools

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo


class DatabaseFactory:
    def __init__(self, server_url: str, run_id: str) -> None:
        self._server_url = server_url
        self._prefix = f"queuelabs_test_{run_id}"
        self._created: list[str] = []
        self._numbers = itertools.count(1)
        self.template: str | None = None

    def url(self, name: str) -> str:
        """The server's connection string with the database name swapped."""
        return make_conninfo(self._server_url, dbname=name)

    def create(self, suffix: str, template: str | None = None) -> str:
        name = f"{self._prefix}_{suffix}"
        statement = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" template {}").format(sql.Identifier(template))
        with psycopg.connect(self._server_url, autocommit=True) as conn:
            conn.execute(statement)
        self._created.append(name)
        return name

    def create_from_template(self) -> str:
        assert self.template is not None
        return self.create(str(next(self._numbers)), template=self.template)

    def create_empty(self) -> str:
        return self.create(f"empty_{next(self._numbers)}")

    def drop_all(self) -> None:
        with psycopg.connect(self._server_url, autocommit=True) as conn:
            for name in reversed(self._created):
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
        self._created.clear()


async def lock_waiters(conn: psycopg.AsyncConnection[tuple[int]], kind: str | None = None) -> int:
    """Sessions of `conn`'s database, other than `conn`'s own, waiting for a lock (of `kind`,
    PostgreSQL's wait_event name such as 'advisory', when given): how a test knows the code
    under test reached a lock, without guessing how long that takes."""
    cursor = await conn.execute(
        "select count(*) from pg_stat_activity where datname = current_database()"
        " and wait_event_type = 'Lock' and pid <> pg_backend_pid()"
        " and (%(kind)s::text is null or wait_event = %(kind)s)",
        {"kind": kind},
    )
    row = await cursor.fetchone()
    assert row is not None
    return row[0]
