"""The Uploader's settings, from the environment (UPLOADER_*, UPLOAD_POST_*, WEBHOOKS_*,
ALLOCATOR_ADDR, DATABASE_URL, AUTH_TOKENS, TLS_*) and the flags that override it; the retry
policies as tuned by the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from queuelabs.caps import DEFAULT_DAILY_CAPS
from queuelabs.env import ConfigError, Env, require_database_url
from queuelabs.platforms import Platform
from queuelabs.retention import EVENTS_RETENTION, retention_period
from queuelabs.security import Security
from uploader.pacing import Limits
from uploader.policies import DEFAULT_POLICIES, RetryPolicy, WhenExhausted

REAL_UPLOAD_POST = "https://api.upload-post.com/api"


@dataclass(frozen=True)
class WebhookSettings:
    """How webhooks are sent (uploader/workers/webhook_sender.py)."""

    allow_private: bool = False  # loopback, private, link-local targets (dev stack, tests)
    timeout: float = 10.0  # seconds for one whole delivery, then it counts as failed
    lease: timedelta = timedelta(seconds=60)  # a claimed delivery's; must exceed the timeout
    max_in_flight: int = 50  # deliveries at once, per process
    per_endpoint: int = 5  # deliveries at once to one endpoint, every replica together
    retry_scale: float = 1.0  # multiplies every retry wait (demos, tests)

    @classmethod
    def from_env(cls, env: Env) -> WebhookSettings:
        timeout = env.seconds("WEBHOOKS_TIMEOUT_SECONDS", 10.0, 0.1, 300)
        lease = env.seconds("WEBHOOKS_LEASE_SECONDS", 60, 1, 3600)
        if lease <= timeout:
            raise ConfigError(
                f"WEBHOOKS_LEASE_SECONDS: {lease:g} must exceed WEBHOOKS_TIMEOUT_SECONDS "
                f"({timeout:g}), or deliveries in flight would be taken for lost"
            )
        return cls(
            allow_private=env.choice("WEBHOOKS_ALLOW_PRIVATE", "false", ("true", "false"))
            == "true",
            timeout=timeout,
            lease=timedelta(seconds=lease),
            max_in_flight=env.integer("WEBHOOKS_MAX_IN_FLIGHT", 50, 1, 10_000),
            per_endpoint=env.integer("WEBHOOKS_IN_FLIGHT_PER_ENDPOINT", 5, 1, 1000),
            retry_scale=env.seconds("WEBHOOKS_RETRY_SCALE", 1.0, 0.0001, 100),
        )


# A secret that goes in a URL's path as it is: letters, digits and - _ . ~ (as token_urlsafe gives).
_PATH_SAFE = re.compile(r"[A-Za-z0-9_.~-]+")
MIN_SECRET = 24


@dataclass(frozen=True)
class NoticeSettings:
    """Where the Uploader hears Upload-Post's webhooks (uploader/notices/); off without `listen`."""

    listen: str | None = None  # HOST:PORT; port 0: any free port (the start-up line says which)
    secret: str = field(default="", repr=False)  # in the registered URL's path: never printed

    @classmethod
    def from_env(cls, env: Env) -> NoticeSettings:
        if env.text("UPLOAD_POST_WEBHOOK_LISTEN") is None:
            return cls()
        listen = env.listen("UPLOAD_POST_WEBHOOK_LISTEN", "")
        return cls(listen, webhook_secret(env))


def webhook_secret(env: Env) -> str:
    """UPLOAD_POST_WEBHOOK_SECRET, checked; a ConfigError names the variable, never the value."""
    secret = env.text("UPLOAD_POST_WEBHOOK_SECRET")
    if secret is None:
        raise ConfigError(
            "UPLOAD_POST_WEBHOOK_SECRET: not set (the secret Upload-Post's webhooks carry; make "
            "one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if len(secret) < MIN_SECRET or not _PATH_SAFE.fullmatch(secret):
        raise ConfigError(
            f"UPLOAD_POST_WEBHOOK_SECRET: must be at least {MIN_SECRET} characters, only "
            f"letters, digits and - _ . ~ (it goes in a URL's path)"
        )
    return secret


@dataclass(frozen=True)
class UploaderSettings:
    database_url: str
    allocator_addr: str
    upload_post_api_key: str = field(repr=False)  # a secret: never printed
    upload_post_base_url: str = REAL_UPLOAD_POST
    listen: str = "0.0.0.0:50052"
    pool_size: int = 10
    db_timeout: float = 10.0
    max_in_flight: int = 100  # calls to Upload-Post at once, per process (see README)
    limits: Limits = field(default_factory=Limits)
    daily_caps: Mapping[Platform, int] = field(default_factory=lambda: dict(DEFAULT_DAILY_CAPS))
    lease: timedelta = timedelta(seconds=300)
    idle: timedelta = timedelta(seconds=1)
    max_lateness: timedelta = timedelta(hours=1)
    policies: Mapping[Platform, RetryPolicy] = field(default_factory=lambda: DEFAULT_POLICIES)
    shutdown_grace: float = 10.0
    security: Security = field(default_factory=Security)
    metrics_listen: str | None = None
    events_retention: timedelta = timedelta(days=30)  # the event log's (the event pruner's)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    notices: NoticeSettings = field(default_factory=NoticeSettings)  # Upload-Post's webhooks

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
        url = require_database_url(env, database_url)
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
            max_in_flight=env.integer("UPLOADER_MAX_IN_FLIGHT", 100, 1, 10_000),
            limits=Limits(
                requests_per_minute=env.integer(
                    "UPLOAD_POST_REQUESTS_PER_MINUTE", 100, 1, 1_000_000
                ),
                posts_per_minute_per_profile=env.integer(
                    "UPLOAD_POST_POSTS_PER_MINUTE_PER_PROFILE", 2, 1, 100_000
                ),
            ),
            daily_caps=env.daily_caps(),
            lease=timedelta(seconds=lease),
            idle=timedelta(seconds=env.seconds("UPLOADER_IDLE_SECONDS", 1.0, 0.01, 60)),
            max_lateness=timedelta(
                seconds=env.seconds("UPLOADER_MAX_LATENESS_SECONDS", 3600, 0, 30 * 86_400)
            ),
            policies=policies,
            shutdown_grace=env.seconds("SHUTDOWN_GRACE_SECONDS", 10.0, 0, 600),
            security=env.security(),
            metrics_listen=env.metrics_listen("0.0.0.0:9102"),
            events_retention=retention_period(
                env.text("EVENTS_RETENTION", EVENTS_RETENTION) or EVENTS_RETENTION,
                "EVENTS_RETENTION",
            ),
            webhooks=WebhookSettings.from_env(env),
            notices=NoticeSettings.from_env(env),
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
