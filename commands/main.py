"""The `queuelabs` command: one subcommand per part, plus `dev` for the whole system at once.

A composition root: it wires the services together and nothing imports it."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from allocator.settings import AllocatorSettings
from commands.serving import serve_until_signalled, until_signalled
from queuelabs import tracing
from queuelabs.database import DatabaseUnreachable
from queuelabs.env import ConfigError, Env, require_database_url
from queuelabs.logs import configure as configure_logs
from queuelabs.platforms import Platform
from sandbox.settings import SandboxSettings
from uploader.settings import UploaderSettings

log = logging.getLogger("queuelabs")

ALLOCATOR_HELP = (
    "HOST:PORT (default: ALLOCATOR_ADDR, else 127.0.0.1 on the port of ALLOCATOR_LISTEN)"
)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    env = Env.current()
    try:
        default_format = "text" if args.command == "dev" else "json"
        configure_logs(env.log_level(), env.choice("LOG_FORMAT", default_format, ("json", "text")))
        handler: Callable[[argparse.Namespace, Env], int] = args.handler
        sys.exit(handler(args, env))
    except ConfigError as problem:
        sys.exit(f"queuelabs {args.command}: configuration error: {problem}")
    except DatabaseUnreachable as problem:
        sys.exit(f"queuelabs {args.command}: DATABASE_URL: {problem}")
    except OSError as problem:  # e.g. the listen address is taken
        sys.exit(f"queuelabs {args.command}: {problem}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="queuelabs", description=__doc__)
    parser.add_argument("--version", action="version", version=f"queuelabs {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--database-url", help="overrides DATABASE_URL")
    migrate.set_defaults(handler=_migrate)

    allocator = commands.add_parser("allocator", help="serve the Allocator over gRPC")
    allocator.add_argument("--database-url", help="overrides DATABASE_URL")
    allocator.add_argument("--listen", help="HOST:PORT; overrides ALLOCATOR_LISTEN")
    allocator.set_defaults(handler=_allocator)

    uploader = commands.add_parser(
        "uploader", help="serve the Uploader over gRPC and run its workers (claimer, rescuer, ...)"
    )
    uploader.add_argument("--database-url", help="overrides DATABASE_URL")
    uploader.add_argument("--listen", help="HOST:PORT; overrides UPLOADER_LISTEN")
    uploader.add_argument("--allocator-addr", help="HOST:PORT; overrides ALLOCATOR_ADDR")
    uploader.set_defaults(handler=_uploader)

    sandbox = commands.add_parser("sandbox", help="serve the local Upload-Post stand-in")
    sandbox.add_argument("--listen", help="HOST:PORT; overrides SANDBOX_LISTEN")
    sandbox.set_defaults(handler=_sandbox)

    schedule = commands.add_parser("schedule", help="look at the queue")
    schedule_commands = schedule.add_subparsers(dest="schedule_command", required=True)
    show = schedule_commands.add_parser(
        "show", help="the coming slots of a profile and platform, with contents and states"
    )
    show.add_argument("--profile", required=True, help="profile id")
    show.add_argument("--platform", required=True, choices=[p.value for p in Platform])
    show.add_argument("--days", type=int, default=3, help="how many days ahead (default 3)")
    show.add_argument("--allocator", help=ALLOCATOR_HELP)
    show.set_defaults(handler=_schedule_show)
    week = schedule_commands.add_parser(
        "week", help="a week of a profile and platform as a grid: days across, slot times down"
    )
    week.add_argument("--profile", required=True, help="profile id")
    week.add_argument("--platform", required=True, choices=[p.value for p in Platform])
    week.add_argument(
        "--week",
        metavar="YYYY-MM-DD",
        help="any day of the week to show (default: this week, in the profile's timezone)",
    )
    week.add_argument("--allocator", help=ALLOCATOR_HELP)
    week.set_defaults(handler=_schedule_week)

    waiting = commands.add_parser(
        "waiting",
        help="what the contents in line wait for, per profile and platform (asks the Uploader)",
    )
    waiting.add_argument(
        "--uploader", help="HOST:PORT (default: 127.0.0.1 on the port of UPLOADER_LISTEN)"
    )
    waiting.add_argument("--profile", default="", help="only this profile (its id)")
    waiting.add_argument("--platform", choices=[p.value for p in Platform], help="only this one")
    waiting.set_defaults(handler=_waiting)

    check = commands.add_parser(
        "check",
        help="audit the database against every invariant; exit 1 when anything is found",
    )
    check.add_argument(
        "--stuck-after",
        type=int,
        default=600,
        metavar="SECONDS",
        help="how long past due or past its lease a content may be before it counts (600)",
    )
    check.add_argument("--json", action="store_true", help="one JSON object per finding")
    check.add_argument("--database-url", help="overrides DATABASE_URL")
    check.set_defaults(handler=_check)

    prune = commands.add_parser(
        "prune",
        help="delete what finished before a retention period, in small batches (cron-safe)",
    )
    prune.add_argument(
        "--older-than",
        required=True,
        metavar="PERIOD",
        help="retention period: finished longer ago than this goes (e.g. 90d, 36h, 30m)",
    )
    prune.add_argument(
        "--events-older-than",
        metavar="PERIOD",
        help="the event log's retention: events older than this go (default: EVENTS_RETENTION,"
        " else 30d, as the Uploader keeps it)",
    )
    prune.add_argument(
        "--batch-size", type=int, default=1000, help="rows per transaction (default 1000)"
    )
    prune.add_argument("--database-url", help="overrides DATABASE_URL")
    prune.set_defaults(handler=_prune)

    health = commands.add_parser(
        "health", help="ask a service's gRPC health check; exit 0 when it serves"
    )
    health.add_argument(
        "--address",
        help="HOST:PORT (default: 127.0.0.1 on the port of ALLOCATOR_LISTEN or UPLOADER_LISTEN)",
    )
    health.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    health.set_defaults(handler=_health)

    hearing = commands.add_parser(
        "upload-post-webhook",
        help="register with Upload-Post where the Uploader hears its webhooks, or show it",
    )
    hearing_commands = hearing.add_subparsers(dest="webhook_command", required=True)
    register = hearing_commands.add_parser(
        "register",
        help="POST the receiver's URL (PUBLIC-URL/upload-post/webhooks/<secret>) to Upload-Post",
    )
    register.add_argument(
        "--public-url",
        required=True,
        help="where Upload-Post reaches UPLOAD_POST_WEBHOOK_LISTEN, e.g. https://hooks.example.com",
    )
    register.add_argument(
        "--dry-run", action="store_true", help="print the request (secrets hidden), send nothing"
    )
    register.set_defaults(handler=_webhook_register)
    registered = hearing_commands.add_parser("show", help="what Upload-Post has registered")
    registered.set_defaults(handler=_webhook_show)

    dev = commands.add_parser(
        "dev", help="the whole system on this machine, on 127.0.0.1, with a demo profile"
    )
    dev.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".queuelabs/pgdata"),
        help="where the embedded PostgreSQL keeps its data (default: .queuelabs/pgdata)",
    )
    for flag, variable, default in (
        ("--allocator-port", "ALLOCATOR_LISTEN", 50051),
        ("--uploader-port", "UPLOADER_LISTEN", 50052),
        ("--sandbox-port", "SANDBOX_LISTEN", 50053),
        ("--metrics-port", "METRICS_LISTEN", 9100),
    ):
        dev.add_argument(
            flag,
            type=int,
            metavar="PORT",
            help=f"on 127.0.0.1 (default: the port of {variable} if set, else {default})",
        )
    dev.set_defaults(handler=_dev)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("queuelabs")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown (not installed)"


def _migrate(args: argparse.Namespace, env: Env) -> int:
    from queuelabs.database import current_revision, migrate

    url = require_database_url(env, args.database_url)
    migrate(url)
    log.info("schema is at revision %s", current_revision(url))
    return 0


def _allocator(args: argparse.Namespace, env: Env) -> int:
    from allocator.server import start_allocator

    settings = AllocatorSettings.from_env(env, database_url=args.database_url, listen=args.listen)
    tracing.configure("queuelabs-allocator")
    return asyncio.run(
        serve_until_signalled(
            lambda: start_allocator(settings), settings.shutdown_grace, settings.metrics_listen
        )
    )


def _uploader(args: argparse.Namespace, env: Env) -> int:
    from uploader.server import start_uploader

    settings = UploaderSettings.from_env(
        env, database_url=args.database_url, listen=args.listen, allocator_addr=args.allocator_addr
    )
    tracing.configure("queuelabs-uploader")
    return asyncio.run(
        serve_until_signalled(
            lambda: start_uploader(settings), settings.shutdown_grace, settings.metrics_listen
        )
    )


def _sandbox(args: argparse.Namespace, env: Env) -> int:
    settings = SandboxSettings.from_env(env, listen=args.listen)
    return asyncio.run(_serve_sandbox(settings))


async def _serve_sandbox(settings: SandboxSettings) -> int:
    from sandbox.server import start_sandbox

    host, _, port = settings.listen.rpartition(":")
    running = await start_sandbox(
        host,
        int(port),
        settings.api_key,
        settings.async_seconds,
        limits=settings.limits,
        upload_seconds=settings.upload_seconds,
        random_faults=settings.random_faults,
    )
    # The bound port, as the services say theirs: SANDBOX_LISTEN may name port 0.
    log.info(
        "Upload-Post sandbox listening on %s (port %d): http://%s:%d/api",
        settings.listen,
        running.port,
        host,
        running.port,
    )
    await until_signalled()
    await running.stop()
    return 0


def _schedule_show(args: argparse.Namespace, env: Env) -> int:
    from commands.schedule import run_show

    cap = env.daily_caps()[Platform(args.platform)]
    return run_show(env, args.allocator, args.profile, args.platform, args.days, cap)


def _schedule_week(args: argparse.Namespace, env: Env) -> int:
    from commands.schedule import run_week

    return run_week(env, args.allocator, args.profile, args.platform, args.week)


def _waiting(args: argparse.Namespace, env: Env) -> int:
    from commands.waiting import run_waiting

    return run_waiting(env, args.uploader, args.profile, args.platform)


def _check(args: argparse.Namespace, env: Env) -> int:
    from queuelabs.audit import audit, report
    from queuelabs.database import check_reachable

    url = require_database_url(env, args.database_url)
    check_reachable(url)
    if args.stuck_after < 1:
        raise ConfigError(f"--stuck-after: {args.stuck_after} is not a positive number of seconds")
    findings = audit(url, datetime.now(UTC), timedelta(seconds=args.stuck_after))
    return report(findings, args.json)


def _prune(args: argparse.Namespace, env: Env) -> int:
    from queuelabs.database import check_reachable
    from queuelabs.retention import EVENTS_RETENTION, prune, retention_period

    period = retention_period(args.older_than)
    if args.events_older_than is not None:
        events_period = retention_period(args.events_older_than, "--events-older-than")
    else:
        kept = env.text("EVENTS_RETENTION", EVENTS_RETENTION) or EVENTS_RETENTION
        events_period = retention_period(kept, "EVENTS_RETENTION")
    if not 1 <= args.batch_size <= 100_000:
        raise ConfigError(f"--batch-size: {args.batch_size} is outside 1..100000")
    url = require_database_url(env, args.database_url)
    check_reachable(url)
    now = datetime.now(UTC)
    done = prune(url, now - period, now, args.batch_size, events_before=now - events_period)
    print(
        f"pruned {done.contents} content(s) finished before {(now - period):%Y-%m-%d %H:%M} UTC,"
        f" with their attempts and success records, {done.free_slots} past inventory"
        f" instant(s), and {done.events} event(s) from before"
        f" {(now - events_period):%Y-%m-%d %H:%M} UTC, in {done.batches} batch(es)"
    )
    return 0


def _health(args: argparse.Namespace, env: Env) -> int:
    from commands.health import run_health

    return run_health(env, args.address, args.timeout)


def _webhook_register(args: argparse.Namespace, env: Env) -> int:
    from commands.upload_post_webhook import run_register

    return asyncio.run(run_register(env, args.public_url, args.dry_run))


def _webhook_show(args: argparse.Namespace, env: Env) -> int:
    from commands.upload_post_webhook import run_show

    return asyncio.run(run_show(env))


def _dev(args: argparse.Namespace, env: Env) -> int:
    from commands.dev import DevPorts, run_dev

    tracing.configure("queuelabs-dev")
    ports = DevPorts.chosen(
        env,
        allocator=args.allocator_port,
        uploader=args.uploader_port,
        sandbox=args.sandbox_port,
        metrics=args.metrics_port,
    )
    return asyncio.run(run_dev(env, args.data_dir, ports))
