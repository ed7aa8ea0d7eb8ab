"""Settings from the environment (and command-line flags that override it).

A bad value stops the process at start with a message naming the variable; nothing is guessed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import psycopg.conninfo

from queuelabs.platforms import Platform
from queuelabs.security import BadTokens, Security, parse_tokens
from uploader.policies import DEFAULT_POLICIES, RetryPolicy, WhenExhausted


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

    def path(self, name: str) -> Path | None:
        value = self.text(name)
        if value is None:
            return None
        path = Path(value)
        if not path.is_file() or not os.access(path, os.R_OK):
            raise ConfigError(f"{name}: {value!r} is not a readable file")
        return path

    def security(self) -> Security:
        """AUTH_TOKENS, TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE, TLS_CA_FILE and, for
        the Uploader's calls to the Allocator, ALLOCATOR_TOKEN."""
        try:
            tokens = parse_tokens(self.text("AUTH_TOKENS") or "")
        except BadTokens as problem:
            raise ConfigError(str(problem)) from None
        cert, key = self.path("TLS_CERT_FILE"), self.path("TLS_KEY_FILE")
        if (cert is None) != (key is None):
            raise ConfigError("TLS_CERT_FILE and TLS_KEY_FILE: set both or neither")
        client_ca = self.path("TLS_CLIENT_CA_FILE")
        if client_ca is not None and cert is None:
            raise ConfigError("TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE too")
        client_token = self.text("ALLOCATOR_TOKEN")
        if client_token is None and tokens:  # one token set shared by the services
            client_token = tokens.get("uploader", next(iter(tokens.values())))
        return Security(tokens, cert, key, client_ca, self.path("TLS_CA_FILE"), client_token)

    def metrics_listen(self, default: str) -> str | None:
        """METRICS_LISTEN: HOST:PORT for /metrics, or `off`."""
        if (self.text("METRICS_LISTEN") or "").lower() == "off":
            return None
        return self.listen("METRICS_LISTEN", default)

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = (self.text(name, default) or default).lower()
        if value not in allowed:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
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
    security: Security = field(default_factory=Security)
    metrics_listen: str | None = None  # HOST:PORT for /metrics; None: off

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
            security=env.security(),
            metrics_listen=env.metrics_listen("0.0.0.0:9101"),
        )


REAL_UPLOAD_POST = "https://api.upload-post.com/api"


@dataclass(frozen=True)
class UploaderSettings:
    database_url: str
    allocator_addr: str
    upload_post_api_key: str = field(repr=False)  # a secret: never printed
    upload_post_base_url: str = REAL_UPLOAD_POST
    listen: str = "0.0.0.0:50052"
    pool_size: int = 10
    db_timeout: float = 10.0
    per_platform: int = 4
    lease: timedelta = timedelta(seconds=300)
    idle: timedelta = timedelta(seconds=1)
    max_lateness: timedelta = timedelta(hours=1)
    policies: Mapping[Platform, RetryPolicy] = field(default_factory=lambda: DEFAULT_POLICIES)
    shutdown_grace: float = 10.0
    security: Security = field(default_factory=Security)
    metrics_listen: str | None = None

    @classmethod
    def from_env(
        cls,
        env: Env,
        *,
        database_url: str | None = None,
        listen: str | None = None,
        allocator_addr: str | None = None,
        upload_post: tuple[str, str] | None = None,
    ) -> UploaderSettings:
        url = database_url or env.database_url()
        if url is None:
            raise ConfigError("DATABASE_URL: not set (e.g. postgresql://user@host:5432/dbname)")
        allocator = allocator_addr or env.text("ALLOCATOR_ADDR")
        if allocator is None:
            raise ConfigError("ALLOCATOR_ADDR: not set (where the Allocator listens, HOST:PORT)")
        if upload_post is None:
            key = env.text("UPLOAD_POST_API_KEY")
            if key is None:
                raise ConfigError("UPLOAD_POST_API_KEY: not set")
            base = env.text("UPLOAD_POST_BASE_URL", REAL_UPLOAD_POST) or REAL_UPLOAD_POST
            if not base.startswith(("https://", "http://")):
                raise ConfigError(f"UPLOAD_POST_BASE_URL: {base!r} is not an http(s) URL")
            upload_post = (base, key)
        policies = _policies(env)
        lease = env.seconds("UPLOADER_LEASE_SECONDS", 300, 1, 86_400)
        longest_call = max(p.read_timeout for p in policies.values())
        if lease <= longest_call:
            raise ConfigError(
                f"UPLOADER_LEASE_SECONDS: {lease} must exceed the longest read timeout "
                f"({longest_call} s), or live calls would be taken for lost"
            )
        return cls(
            database_url=url,
            allocator_addr=allocator,
            upload_post_base_url=upload_post[0],
            upload_post_api_key=upload_post[1],
            listen=listen or env.listen("UPLOADER_LISTEN", "0.0.0.0:50052"),
            pool_size=env.integer("UPLOADER_DB_POOL_SIZE", 10, 2, 500),
            db_timeout=env.seconds("UPLOADER_DB_TIMEOUT_SECONDS", 10.0, 0.1, 600),
            per_platform=env.integer("UPLOADER_CONCURRENCY_PER_PLATFORM", 4, 1, 1000),
            lease=timedelta(seconds=lease),
            idle=timedelta(seconds=env.seconds("UPLOADER_IDLE_SECONDS", 1.0, 0.01, 60)),
            max_lateness=timedelta(
                seconds=env.seconds("UPLOADER_MAX_LATENESS_SECONDS", 3600, 0, 30 * 86_400)
            ),
            policies=policies,
            shutdown_grace=env.seconds("SHUTDOWN_GRACE_SECONDS", 10.0, 0, 600),
            security=env.security(),
            metrics_listen=env.metrics_listen("0.0.0.0:9102"),
        )


def _policies(env: Env) -> dict[Platform, RetryPolicy]:
    """The default policies, tuned by UPLOADER_RETRY_DELAYS_<PLATFORM> ("30,60,120"),
    UPLOADER_WHEN_EXHAUSTED_<PLATFORM> (reschedule|fail), UPLOADER_READ_TIMEOUT_SECONDS and
    UPLOADER_RETRY_SCALE (every wait multiplied, for demos and tests)."""
    scale = env.seconds("UPLOADER_RETRY_SCALE", 1.0, 0.0001, 100)
    read_timeout = env.text("UPLOADER_READ_TIMEOUT_SECONDS")
    result = {}
    for platform, policy in DEFAULT_POLICIES.items():
        name = platform.name
        delays = env.text(f"UPLOADER_RETRY_DELAYS_{name}")
        if delays is not None:
            try:
                ladder = tuple(float(d) for d in delays.split(",") if d.strip())
            except ValueError:
                raise ConfigError(
                    f"UPLOADER_RETRY_DELAYS_{name}: {delays!r} is not seconds like 30,60,120"
                ) from None
            if any(d < 0 for d in ladder):
                raise ConfigError(f"UPLOADER_RETRY_DELAYS_{name}: a delay is negative")
            policy = replace(policy, retry_delays=ladder)
        exhausted = env.text(f"UPLOADER_WHEN_EXHAUSTED_{name}")
        if exhausted is not None:
            try:
                policy = replace(policy, when_exhausted=WhenExhausted(exhausted.lower()))
            except ValueError:
                raise ConfigError(
                    f"UPLOADER_WHEN_EXHAUSTED_{name}: {exhausted!r} is not reschedule or fail"
                ) from None
        if read_timeout is not None:
            policy = replace(
                policy,
                read_timeout=env.seconds("UPLOADER_READ_TIMEOUT_SECONDS", 60, 0.1, 3600),
            )
        result[platform] = policy.scaled(scale)
    return result


@dataclass(frozen=True)
class SandboxSettings:
    listen: str = "127.0.0.1:50053"
    api_key: str = field(default="sandbox", repr=False)
    async_seconds: float = 3.0  # how long an async job takes to finish

    @classmethod
    def from_env(cls, env: Env, *, listen: str | None = None) -> SandboxSettings:
        return cls(
            listen=listen or env.listen("SANDBOX_LISTEN", "127.0.0.1:50053"),
            api_key=env.text("SANDBOX_API_KEY", "sandbox") or "sandbox",
            async_seconds=env.seconds("SANDBOX_ASYNC_SECONDS", 3.0, 0, 600),
        )
