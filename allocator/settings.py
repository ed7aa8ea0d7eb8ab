"""The Allocator's settings, from the environment (ALLOCATOR_*, DATABASE_URL, AUTH_TOKENS, TLS_*)
and the flags that override it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from queuelabs.caps import DEFAULT_DAILY_CAPS
from queuelabs.env import Env, require_database_url
from queuelabs.platforms import Platform
from queuelabs.security import Security


@dataclass(frozen=True)
class AllocatorSettings:
    database_url: str
    listen: str = "0.0.0.0:50051"
    pool_size: int = 10  # database connections per process
    db_timeout: float = 10.0  # waiting for a connection or a lock, seconds
    lead_time: timedelta = timedelta(seconds=60)
    horizon: timedelta = timedelta(days=365)
    batch_limit: int = 100
    group_limit: int = 500  # contents served together in one transaction
    groups_in_flight: int = 1  # such transactions of one process at once
    shutdown_grace: float = 10.0  # seconds for calls in flight at shutdown
    security: Security = field(default_factory=Security)
    metrics_listen: str | None = None  # HOST:PORT for /metrics; None: off
    daily_caps: Mapping[Platform, int] = field(default_factory=lambda: dict(DEFAULT_DAILY_CAPS))

    @classmethod
    def from_env(
        cls, env: Env, *, database_url: str | None = None, listen: str | None = None
    ) -> AllocatorSettings:
        return cls(
            database_url=require_database_url(env, database_url),
            listen=listen or env.listen("ALLOCATOR_LISTEN", "0.0.0.0:50051"),
            pool_size=env.integer("ALLOCATOR_DB_POOL_SIZE", 10, 1, 500),
            db_timeout=env.seconds("ALLOCATOR_DB_TIMEOUT_SECONDS", 10.0, 0.1, 600),
            lead_time=timedelta(seconds=env.seconds("ALLOCATOR_LEAD_SECONDS", 60, 0, 86_400)),
            horizon=timedelta(days=env.integer("ALLOCATOR_HORIZON_DAYS", 365, 1, 3650)),
            batch_limit=env.integer("ALLOCATOR_BATCH_LIMIT", 100, 1, 10_000),
            group_limit=env.integer("ALLOCATOR_GROUP_LIMIT", 500, 1, 10_000),
            groups_in_flight=env.integer("ALLOCATOR_GROUPS_IN_FLIGHT", 1, 1, 100),
            shutdown_grace=env.seconds("SHUTDOWN_GRACE_SECONDS", 10.0, 0, 600),
            security=env.security(),
            metrics_listen=env.metrics_listen("0.0.0.0:9101"),
            daily_caps=env.daily_caps(),
        )
