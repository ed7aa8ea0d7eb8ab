"""Settings from the environment (and command-line flags that override it).

A bad value stops the process at start with a message naming the variable; nothing is guessed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import psycopg.conninfo


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Env:
    """A read-only view of the environment with typed, checked accessors."""

    values: Mapping[str, str]

    @classmethod
    def current(cls) -> Env:
        return cls(dict(os.environ))

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, "").strip()
        return value or default

    def database_url(self, name: str = "DATABASE_URL") -> str | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            psycopg.conninfo.conninfo_to_dict(value)
        except psycopg.ProgrammingError:
            # libpq's message may quote the URL, password included: do not repeat it.
            raise ConfigError(
                f"{name}: not a PostgreSQL connection string "
                "(expected e.g. postgresql://user@host:5432/dbname)"
            ) from None
        return value

    def listen(self, name: str, default: str) -> str:
        value = self.text(name, default)
        assert value is not None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError(f"{name}: {value!r} is not HOST:PORT (e.g. 0.0.0.0:50051)")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: {raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}: {value} is outside {low}..{high}")
        return value

    def seconds(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: {raw!r} is not a number of seconds") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}: {value} is outside {low}..{high} seconds")
        return value

    def log_level(self, name: str = "LOG_LEVEL") -> int:
        raw = (self.text(name, "INFO") or "INFO").upper()
        level = logging.getLevelName(raw)
        if not isinstance(level, int):
            raise ConfigError(f"{name}: {raw!r} is not one of DEBUG, INFO, WARNING, ERROR")
        return level


@dataclass(frozen=True)
class AllocatorSettings:
    database_url: str
    listen: str = "0.0.0.0:50051"
    pool_size: int = 10  # database connections per process
    db_timeout: float = 10.0  # waiting for a connection or a lock, seconds
    lead_time: timedelta = timedelta(seconds=60)
    horizon: timedelta = timedelta(days=365)
    batch_limit: int = 100
    shutdown_grace: float = 10.0  # seconds for calls in flight at shutdown

    @classmethod
    def from_env(
        cls, env: Env, *, database_url: str | None = None, listen: str | None = None
    ) -> AllocatorSettings:
        url = database_url or env.database_url()
        if url is None:
            raise ConfigError("DATABASE_URL: not set (e.g. postgresql://user@host:5432/dbname)")
        return cls(
            database_url=url,
            listen=listen or env.listen("ALLOCATOR_LISTEN", "0.0.0.0:50051"),
            pool_size=env.integer("ALLOCATOR_DB_POOL_SIZE", 10, 1, 500),
            db_timeout=env.seconds("ALLOCATOR_DB_TIMEOUT_SECONDS", 10.0, 0.1, 600),
            lead_time=timedelta(seconds=env.seconds("ALLOCATOR_LEAD_SECONDS", 60, 0, 86_400)),
            horizon=timedelta(days=env.integer("ALLOCATOR_HORIZON_DAYS", 365, 1, 3650)),
            batch_limit=env.integer("ALLOCATOR_BATCH_LIMIT", 100, 1, 10_000),
            shutdown_grace=env.seconds("SHUTDOWN_GRACE_SECONDS", 10.0, 0, 600),
        )
