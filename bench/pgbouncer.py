"""A real PgBouncer in transaction pooling mode in front of a PostgreSQL server, on a loopback
port the system picks as it binds (nothing chosen beforehand that another process could take
meanwhile): for the tests that run every part through it (tests/support/pgbouncer.py says
how a missing binary is treated) and for benchmarks through it."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.processes import listening_ports


def find_pgbouncer() -> str | None:
    """The pgbouncer binary on PATH, or where Debian's package puts it; None when absent."""
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )


@contextmanager
def running_pgbouncer(server_url: str, binary: str, pool_size: int = 20) -> Iterator[str]:
    """PgBouncer (`binary`) in transaction mode in front of the server of `server_url` (any
    database name passes through), at most `pool_size` server connections per database; yields
    a URL template: `server_url` with host and port swapped for it."""
    # Its own directory straight under the temporary one: run as another user than root, it
    # must reach its files (pytest's directories are private to root).
    with (
        tempfile.TemporaryDirectory(prefix="queuelabs-pgbouncer-") as scratch,
        _running(binary, server_url, Path(scratch), pool_size) as url,
    ):
        yield url


@contextmanager
def _running(binary: str, server_url: str, where: Path, pool_size: int) -> Iterator[str]:
    server = conninfo_to_dict(server_url)
    user = str(server.get("user") or "postgres")
    where.mkdir(parents=True, exist_ok=True)
    where.chmod(0o777)  # pgbouncer drops root for another user, who writes its log here
    (where / "users.txt").write_text(f'"{user}" ""\n')
    (where / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={server.get('host') or '127.0.0.1'} port={server.get('port') or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                "listen_port = 0",  # the system's choice; read from its sockets once it listens
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {where / 'users.txt'}",
                "pool_mode = transaction",
                "max_client_conn = 1000",
                f"default_pool_size = {pool_size}",
                f"logfile = {where / 'pgbouncer.log'}",
                f"pidfile = {where / 'pgbouncer.pid'}",
            ]
        )
        + "\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (where / name).chmod(0o644)
    command = [binary, str(where / "pgbouncer.ini")]
    if os.geteuid() == 0:  # it will not run as root
        command[1:1] = ["-u", _unprivileged_user(str(server.get("host") or ""))]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        port = _listening_port(process, where)
        yield make_conninfo(server_url, host="127.0.0.1", port=str(port))
    finally:
        process.send_signal(signal.SIGINT)  # immediate shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def through(bouncer_url: str, database_url: str) -> str:
    """`database_url`'s database, reached through the bouncer."""
    return make_conninfo(bouncer_url, dbname=conninfo_to_dict(database_url)["dbname"])


def _unprivileged_user(host: str) -> str:
    """Who may reach the server: the owner of its socket directory (an embedded server's is
    private to it), else postgres, else nobody."""
    if host.startswith("/"):
        return pwd.getpwuid(os.stat(host).st_uid).pw_name
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("no unprivileged user to run pgbouncer as")


def _listening_port(process: subprocess.Popen[bytes], where: Path) -> int:
    """The port pgbouncer listens on, once it does (it logs the 0 it was given, not the port)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (
                (where / "pgbouncer.log").read_text() if (where / "pgbouncer.log").exists() else ""
            )
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"pgbouncer exited with {process.returncode}:\n{output}\n{log}")
        ports = listening_ports(process.pid)
        if ports:
            return ports.pop()
        time.sleep(0.05)
    raise TimeoutError("pgbouncer did not listen within 30 s")
