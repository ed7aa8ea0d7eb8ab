"""A TCP proxy on loopback in front of PostgreSQL that a test can cut and mend: the database
"goes away" for the services behind it (every connection dropped, new ones refused) while the
real server, shared by the other tests, runs on."""

from __future__ import annotations

import asyncio
import contextlib

from psycopg.conninfo import conninfo_to_dict, make_conninfo


class CuttableProxy:
    def __init__(self, database_url: str) -> None:
        self._target = conninfo_to_dict(database_url)
        self._url = database_url
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.is_cut = False

    async def start(self) -> str:
        """Starts listening on a free loopback port; returns the URL that goes through it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return make_conninfo(self._url, host="127.0.0.1", port=str(port), hostaddr="")

    async def cut(self) -> None:
        """Drops every connection through the proxy and refuses new ones."""
        self.is_cut = True
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    def mend(self) -> None:
        self.is_cut = False

    async def stop(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host = str(self._target.get("host") or "/tmp")
        port = int(self._target.get("port") or 5432)
        if host.startswith("/"):  # a Unix socket directory (the embedded server)
            return await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        return await asyncio.open_connection(host, port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        up_reader, up_writer = await self._upstream()
        self._links |= {writer, up_writer}
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                self._links.discard(end)
                end.transport.abort()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.transport.abort()
