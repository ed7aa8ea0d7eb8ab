"""One `queuelabs` service as a real process on a loopback port of its own, which a chaos run
kills with SIGKILL and starts again; its output goes to a log file the run reads afterwards
(to count lines holding a secret).

Its first start listens on a port the system picks as it binds (read from its start-up line), so
no other process can take a port chosen beforehand; a restart comes back on that same port,
since the rest of the run was told its address."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from bench.processes import QUEUELABS, bound_port

_NUMBERS = itertools.count(1)  # names each replica's log


class Replica:
    def __init__(
        self, service: str, listen_variable: str, env: Mapping[str, str], log_dir: Path
    ) -> None:
        self._port: int | None = None
        self._listen_variable = listen_variable
        self.log = log_dir / f"{service}-{next(_NUMBERS)}.log"
        self._command = [*QUEUELABS, service]
        self._env = {
            **os.environ,
            "METRICS_LISTEN": "off",
            "LOG_LEVEL": "INFO",  # an access line a call: all the more lines a secret could be in
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("not started yet: its first start picks its port")
        return self._port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Starts the process; the first start returns once it says where it listens."""
        env = {**self._env, self._listen_variable: f"127.0.0.1:{self._port or 0}"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self._command, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if self._port is None:  # its log holds this start alone
            self._port = bound_port(self.process, self.log)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
