"""The tests' ports cannot be taken from under them by another process (a parallel run): an
address meant to have no listener stays bound here, and `dev`, which must be told its ports
beforehand, starts again on others when one was taken meanwhile."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from commands.dev import DevPorts
from tests.support import processes
from tests.support.processes import dev_log, free_port, start_dev_serving, unanswered_address


def test_an_unanswered_address_refuses_connections_and_cannot_be_taken_meanwhile():
    with unanswered_address() as address:
        host, _, port = address.rpartition(":")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=5).close()
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind((host, int(port)))


def test_dev_starts_again_on_other_ports_when_one_was_taken_before_it_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data_dir = tmp_path / "pgdata"
    with socket.socket() as taken:  # what another process might do between choosing and binding
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        unlucky = DevPorts(taken.getsockname()[1], free_port(), free_port(), free_port())
        offers = [unlucky]
        fresh = processes.free_dev_ports
        monkeypatch.setattr(
            processes, "free_dev_ports", lambda: offers.pop() if offers else fresh()
        )
        dev, ports, banner = start_dev_serving(data_dir)
    try:
        assert ports != unlucky
        assert f"ALLOCATOR_LISTEN 127.0.0.1:{unlucky.allocator}: cannot listen there" in (
            dev_log(data_dir).read_text()
        )
        assert f"127.0.0.1:{ports.allocator}" in banner
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dev.kill()
