"""The classic event reader, kept only to show the trap the real one avoids: it remembers the
highest sequence number it has seen and asks for the rows above it. Rows numbered by a sequence
commit out of order, so a row that commits after the reader moved past its number is lost."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg


class HighestSeqReader:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn  # autocommit: each read sees what has committed by then
        self.highest = 0

    async def read(self, wanted: int = 0) -> list[UUID]:
        """The event ids committed since the last read, as this reader understands it. It reads
        once whatever it `wanted`: it waits on nothing, so reading again shows nothing more."""
        cursor = await self._conn.execute(
            "select seq, event_id from events where seq > %s order by seq", (self.highest,)
        )
        rows = await cursor.fetchall()
        if rows:
            self.highest = rows[-1][0]
        return [row[1] for row in rows]
