"""The parts of a benchmark as real processes: `queuelabs COMMAND` on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

QUEUELABS = [sys.executable, "-m", "commands"]


def free_port() -> int:
    """A port free now. Only until this returns: another process may take it before the child
    it is meant for binds it, so tests start children on port 0 instead (`part_on_any_port`);
    the benchmarks, run alone, still use this."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def part(command: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`queuelabs COMMAND` as its own process, stopped with SIGTERM at the end; its output is
    shown should it fail to start. Metrics are off unless `env` turns them on."""
    with logged_part(command, **env) as (process, _):
        yield process


@contextmanager
def part_on_any_port(
    command: str, listen_variable: str, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`queuelabs COMMAND` told to listen on 127.0.0.1:0 (by `listen_variable`), so the system
    picks a port as it binds; yields the process and that port once it listens. No port is
    chosen beforehand, so none can be taken by another process between choosing and binding."""
    with logged_part(command, **{listen_variable: "127.0.0.1:0", **env}) as (process, log):
        yield process, bound_port(process, log)


@contextmanager
def logged_part(command: str, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`part`, with the file its output goes to."""
    log = tempfile.NamedTemporaryFile("w+b", suffix=f".{command}.log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [*QUEUELABS, command],
        env={**os.environ, "METRICS_LISTEN": "off", **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process, Path(log.name)
    except RuntimeError:
        print(Path(log.name).read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        Path(log.name).unlink(missing_ok=True)


# What every listening part logs once it listens: "... listening on HOST:PORT (port N)".
_LISTENING = re.compile(r"listening on \S+ \(port (\d+)\)")


def bound_port(process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> int:
    """The port `process` bound, from its start-up line in `log` (told port 0, it says which
    one the system gave it). RuntimeError if it exits first, TimeoutError if it never says."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        said = _LISTENING.search(log.read_text(errors="replace"))
        if said:
            return int(said.group(1))
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        time.sleep(0.05)
    raise TimeoutError(f"{process.args!r} never said where it listens")


def listening_ports(pid: int) -> set[int]:
    """The TCP ports the process `pid` listens on, as the system reports its sockets: how to
    learn a port the system picked for a program that does not say which (told port 0)."""
    return {
        c.laddr.port
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(0.5)  # listening; let it finish starting
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on {port}")


def memory_kib(pid: int) -> tuple[int, int]:
    """A process's resident set now and at its peak (VmRSS, VmHWM), in KiB (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far, user and system (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds(database_url: str) -> float:
    """CPU time the PostgreSQL server of `database_url` has used so far: its postmaster, every
    live backend and worker, and those that have exited (Linux). NaN when the server's files
    cannot be read here (another machine's server, or no right to read them)."""
    try:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("show data_directory").fetchone()
        assert row is not None
        postmaster = int((Path(str(row[0])) / "postmaster.pid").read_text().split()[0])
    except (OSError, psycopg.errors.InsufficientPrivilege):
        return float("nan")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        pid, parent = int(stat.parent.name), int(fields[1])
        if pid == postmaster:  # with its children that have exited (cutime, cstime)
            total += sum(int(f) for f in fields[11:15])
        elif parent == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class ServerWork:
    """What the PostgreSQL server did over a stretch of time (`server_work`)."""

    cpu: float = 0.0  # seconds (NaN when its processes cannot be read here)
    wal: int = 0  # bytes written to the write-ahead log
    full_pages: int = 0  # full-page images among them
    misses: int = 0  # blocks of the database read from outside the shared buffers

    def per(self, count: int) -> str:
        """Each figure per one of `count` calls or contents, in words."""
        count = max(1, count)
        return (
            f"PostgreSQL CPU {self.cpu / count * 1e6:.0f} us, WAL {self.wal / count:.0f} bytes"
            f" ({self.full_pages / count:.2f} full pages), shared-buffer misses"
            f" {self.misses / count:.2f}"
        )


@contextmanager
def server_work(database_url: str) -> Iterator[ServerWork]:
    """Measures what the PostgreSQL server of `database_url` does while the block runs; the
    figures are filled in when it ends."""
    work = ServerWork()
    cpu, before = postgres_cpu_seconds(database_url), _counters(database_url)
    yield work
    work.cpu = postgres_cpu_seconds(database_url) - cpu
    time.sleep(1.0)  # the server's statistics reach the views within a second
    after = _counters(database_url)
    work.wal, work.full_pages, work.misses = (a - b for a, b in zip(after, before, strict=True))


def _counters(database_url: str) -> tuple[int, int, int]:
    """Write-ahead log bytes and full-page images written since the server began, and blocks of
    this database read from outside its shared buffers."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'),"
            "       (select wal_fpi from pg_stat_wal),"
            "       (select blks_read from pg_stat_database where datname = current_database())"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])
