"""Runs `queuelabs allocator` as real OS processes, the way replicas run in production.

A child listens on a port the system picks as it binds (`...:0`) and the test learns it from the
child; a port chosen beforehand and handed over could be taken by another process in between.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# the `queuelabs` command, as a user runs it
from bench.processes import QUEUELABS, bound_port, free_port, listening_ports, part_on_any_port
from commands.dev import DevPorts

__all__ = ["QUEUELABS", "part_on_any_port"]


def wait_until_serving(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Waits for the process's gRPC health check to say SERVING."""
    deadline = time.monotonic() + 30
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"allocator exited with {process.returncode}:\n{log.read_text()}"
                )
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)  # real: a real process starts on its own time
    raise TimeoutError(f"{address} did not serve within 30 s:\n{log.read_text()}")


@dataclass
class ServiceProcess:
    address: str
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int | None = None  # when started with METRICS_LISTEN=127.0.0.1:0


@contextmanager
def service_process(command: str, listen_variable: str, **env: str) -> Iterator[ServiceProcess]:
    """`queuelabs COMMAND` as its own process on a loopback port the system picks, stopped with
    SIGTERM. `METRICS_LISTEN="127.0.0.1:0"` serves its metrics on one picked the same way."""
    full_env = {
        **os.environ,
        listen_variable: "127.0.0.1:0",
        "SHUTDOWN_GRACE_SECONDS": "2",
        "METRICS_LISTEN": "off",
        **env,
    }
    with tempfile.NamedTemporaryFile("w+b", suffix=".log", delete=False) as log_file:
        log = Path(log_file.name)
        process = subprocess.Popen(
            [*QUEUELABS, command],
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            port = bound_port(process, log)
        except (RuntimeError, TimeoutError) as failed:  # did not start: show why
            raise RuntimeError(f"{failed}:\n{log.read_text(errors='replace')[-3000:]}") from None
        address = f"127.0.0.1:{port}"
        wait_until_serving(address, process, log)
        metrics = None
        if full_env["METRICS_LISTEN"].endswith(":0"):
            metrics = other_listening_port(process, port)
        yield ServiceProcess(address, process, log, metrics)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.unlink(missing_ok=True)


@contextmanager
def allocator_process(database_url: str, **extra_env: str) -> Iterator[str]:
    """An Allocator server process on a free loopback port; yields its address."""
    with service_process(
        "allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url, **extra_env
    ) as running:
        yield running.address


@contextmanager
def allocator_replicas(database_url: str, count: int, **extra_env: str) -> Iterator[list[str]]:
    with allocator_processes(database_url, count, **extra_env) as running:
        yield [replica.address for replica in running]


@contextmanager
def allocator_processes(
    database_url: str, count: int, **extra_env: str
) -> Iterator[list[ServiceProcess]]:
    """`count` Allocator server processes on one database (their processes, to kill)."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                service_process(
                    "allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url, **extra_env
                )
            )
            for _ in range(count)
        ]


def other_listening_port(process: subprocess.Popen[bytes], known: int) -> int:
    """The one port `process` listens on besides `known` (its metrics, which start just after
    its gRPC server), as the system reports the process's sockets."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listening = listening_ports(process.pid) - {known}
        if len(listening) == 1:
            return listening.pop()
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        time.sleep(0.05)  # real: a real process opens its ports on its own time
    raise TimeoutError(f"{process.args!r} listens on no second port")


@contextmanager
def unanswered_address() -> Iterator[str]:
    """A loopback address where nothing listens, for the block: this process binds its port
    without listening, so a connection there is refused and no other process can take it."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{held.getsockname()[1]}"


def free_dev_ports() -> DevPorts:
    return DevPorts(free_port(), free_port(), free_port(), free_port())


def start_dev(data_dir: Path, ports: DevPorts) -> subprocess.Popen[str]:
    """`queuelabs dev` as a new user runs it: no DATABASE_URL, so on an embedded PostgreSQL,
    and no UPLOAD_POST_API_KEY, so with the sandbox."""
    unset = ("DATABASE_URL", "TEST_DATABASE_URL", "UPLOAD_POST_API_KEY")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    # Its log goes to a file beside the data (appended across restarts), for read_until to show.
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with dev_log(data_dir).open("ab") as log:
        return subprocess.Popen(
            [
                *QUEUELABS,
                "dev",
                "--data-dir",
                str(data_dir),
                "--allocator-port",
                str(ports.allocator),
                "--uploader-port",
                str(ports.uploader),
                "--sandbox-port",
                str(ports.sandbox),
                "--metrics-port",
                str(ports.metrics),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )


def dev_log(data_dir: Path) -> Path:
    return data_dir.parent / f"{data_dir.name}.dev.log"


def read_until(process: subprocess.Popen[str], marker: str, seconds: float) -> str:
    """Reads lines from a child's stdout until one contains `marker`; returns all read. A `dev`
    that never prints it fails with its log."""
    stream = process.stdout
    assert stream is not None, "start the process with stdout=PIPE"
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    args = [str(a) for a in process.args] if isinstance(process.args, list) else []
    log = dev_log(Path(args[args.index("--data-dir") + 1])) if "--data-dir" in args else None
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"{marker!r} never printed; got:\n{''.join(seen)}\nits log:\n{tail}")


BANNER_END = "Ctrl-C stops everything"
# How `dev` says one of its ports was taken before it could bind it.
_TAKEN = ("cannot listen there", "address already in use")


def start_dev_serving(
    data_dir: Path, tries: int = 5
) -> tuple[subprocess.Popen[str], DevPorts, str]:
    """`queuelabs dev` (see start_dev) up to its banner; returns it, its ports and the banner.

    `dev` prints the ports it was given, so they are chosen before it starts, and another
    process may take one before `dev` binds it: then `dev` stops naming it, and it starts
    again on other ports (at most `tries` times). Anything else fails at once."""
    log = dev_log(data_dir)
    for _ in range(tries):
        ports = free_dev_ports()
        seen = log.stat().st_size if log.exists() else 0
        dev = start_dev(data_dir, ports)
        try:
            return dev, ports, read_until(dev, BANNER_END, 120)
        except AssertionError:
            try:
                dev.wait(timeout=30)
            except subprocess.TimeoutExpired:
                dev.kill()  # still running, yet no banner: not a taken port
                dev.wait()
                raise
            said = log.read_bytes()[seen:].decode(errors="replace").lower()
            if not any(taken in said for taken in _TAKEN):
                raise
    raise AssertionError(f"dev found its ports taken {tries} times running")
