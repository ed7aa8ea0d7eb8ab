"""Runs `queuelabs allocator` as real OS processes, the way replicas run in production."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
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
            time.sleep(0.1)
    raise TimeoutError(f"allocator at {address} did not serve within 30 s:\n{log.read_text()}")


@contextmanager
def allocator_process(database_url: str, **extra_env: str) -> Iterator[str]:
    """An Allocator server process on a free loopback port; yields its address."""
    address = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ALLOCATOR_LISTEN": address,
        "SHUTDOWN_GRACE_SECONDS": "2",
        **extra_env,
    }
    with tempfile.NamedTemporaryFile("w+b", suffix=".log", delete=False) as log_file:
        log = Path(log_file.name)
        process = subprocess.Popen(
            [sys.executable, "-m", "queuelabs", "allocator"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(address, process, log)
        yield address
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
def allocator_replicas(database_url: str, count: int, **extra_env: str) -> Iterator[list[str]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(allocator_process(database_url, **extra_env)) for _ in range(count)
        ]


def start_dev(data_dir: Path, port: int) -> subprocess.Popen[str]:
    """`queuelabs dev` as a new user runs it: no DATABASE_URL, so on an embedded PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "queuelabs",
            "dev",
            "--data-dir",
            str(data_dir),
            "--allocator-port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def read_until(process: subprocess.Popen[str], marker: str, seconds: float) -> str:
    """Reads lines from a child's stdout until one contains `marker`; returns all read."""
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
    raise AssertionError(f"{marker!r} never printed; got:\n{''.join(seen)}")
