"""The `queuelabs` command: one subcommand per part, plus `dev` for the whole system at once."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from queuelabs.config import AllocatorSettings, ConfigError, Env
from queuelabs.database import DatabaseUnreachable

log = logging.getLogger("queuelabs")


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    env = Env.current()
    try:
        logging.basicConfig(
            level=env.log_level(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        handler: Callable[[argparse.Namespace, Env], int] = args.handler
        sys.exit(handler(args, env))
    except ConfigError as problem:
        sys.exit(f"queuelabs {args.command}: configuration error: {problem}")
    except DatabaseUnreachable as problem:
        sys.exit(f"queuelabs {args.command}: DATABASE_URL: {problem}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="queuelabs", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--database-url", help="overrides DATABASE_URL")
    migrate.set_defaults(handler=_migrate)

    allocator = commands.add_parser("allocator", help="serve the Allocator over gRPC")
    allocator.add_argument("--database-url", help="overrides DATABASE_URL")
    allocator.add_argument("--listen", help="HOST:PORT; overrides ALLOCATOR_LISTEN")
    allocator.set_defaults(handler=_allocator)

    dev = commands.add_parser(
        "dev", help="the whole system on this machine, on 127.0.0.1, with a demo profile"
    )
    dev.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".queuelabs/pgdata"),
        help="where the embedded PostgreSQL keeps its data (default: .queuelabs/pgdata)",
    )
    dev.add_argument("--allocator-port", type=int, default=50051)
    dev.set_defaults(handler=_dev)
    return parser


def _migrate(args: argparse.Namespace, env: Env) -> int:
    from queuelabs.database import current_revision, migrate

    url = args.database_url or env.database_url()
    if url is None:
        raise ConfigError("DATABASE_URL: not set (e.g. postgresql://user@host:5432/dbname)")
    migrate(url)
    log.info("schema is at revision %s", current_revision(url))
    return 0


def _allocator(args: argparse.Namespace, env: Env) -> int:
    settings = AllocatorSettings.from_env(env, database_url=args.database_url, listen=args.listen)
    return asyncio.run(_serve_allocator(settings))


async def _serve_allocator(settings: AllocatorSettings) -> int:
    from allocator.server import start_allocator

    running = await start_allocator(settings)
    await until_signalled()
    log.info("stopping: letting calls in flight finish (up to %.0f s)", settings.shutdown_grace)
    await running.stop(settings.shutdown_grace)
    return 0


def _dev(args: argparse.Namespace, env: Env) -> int:
    from queuelabs.dev import run_dev

    return asyncio.run(run_dev(env, args.data_dir, args.allocator_port))


async def until_signalled() -> None:
    """Waits for SIGTERM or SIGINT (Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
