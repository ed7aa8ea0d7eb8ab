"""In-process serialization per (profile, platform): a fixed set of asyncio locks ("stripes").

Requests for a busy key wait here, in memory, instead of each holding a pooled database
connection while blocked on the key's advisory lock. Two keys may share a stripe; that only
serializes them a little more, never less.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from uuid import UUID

from allocator.storage import advisory_key
from queuelabs.platforms import Platform


class StripedLock:
    def __init__(self, stripes: int = 1024) -> None:
        if stripes < 1:
            raise ValueError("stripes must be at least 1")
        self._locks = [asyncio.Lock() for _ in range(stripes)]

    def of(self, profile_id: UUID, platform: Platform) -> asyncio.Lock:
        """The lock that serializes `(profile_id, platform)` in this process."""
        return self._locks[advisory_key(profile_id, platform) % len(self._locks)]

    def all_of(self, keys: Iterable[tuple[UUID, Platform]]) -> list[asyncio.Lock]:
        """The locks of `keys`, each once, in the one order every holder of several takes them
        (so two never wait on each other in a circle)."""
        stripes = sorted({advisory_key(*key) % len(self._locks) for key in keys})
        return [self._locks[i] for i in stripes]
