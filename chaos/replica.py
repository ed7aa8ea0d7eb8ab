"""One `queuelabs` service as a real process on a loopback port of its own, which a chaos run
kills with SIGKILL and starts again; its output goes to a log file the run reads afterwards
(to count lines holding a secret)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from bench.processes import QUEUELABS, free_port


class Replica:
    def __init__(
        self, service: str, listen_variable: str, env: Mapping[str, str], log_dir: Path
    ) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = log_dir / f"{service}-{self.port}.log"
        self._command = [*QUEUELABS, service]
        self._env = {
            **os.environ,
            "METRICS_LISTEN": "off",
            "LOG_LEVEL": "INFO",  # an access line a call: all the more lines a secret could be in
            **env,
            listen_variable: self.address,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self._command, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )

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
