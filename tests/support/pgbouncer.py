"""A real PgBouncer (Debian's package) in transaction pooling mode in front of the test
PostgreSQL, on a free loopback port, for the tests that run every part through it
(bench/pgbouncer.py starts it).

Outside CI a machine without pgbouncer skips those tests, saying how to install it; under CI
(`CI` set) a missing pgbouncer fails them: `.ci/run` installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench import pgbouncer
from bench.pgbouncer import through

__all__ = ["running_pgbouncer", "through"]

INSTALL = "install it with `apt-get install pgbouncer` (Debian/Ubuntu) or your package manager"


def pgbouncer_binary() -> str:
    found = pgbouncer.find_pgbouncer()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"pgbouncer is not installed, and CI must run this test: {INSTALL}")
        pytest.skip(f"pgbouncer is not installed: {INSTALL}")
    return found


@contextmanager
def running_pgbouncer(server_url: str) -> Iterator[str]:
    """PgBouncer in transaction mode in front of the server of `server_url` (any database name
    passes through); yields a URL template: `server_url` with host and port swapped for it."""
    with pgbouncer.running_pgbouncer(server_url, pgbouncer_binary()) as url:
        yield url
