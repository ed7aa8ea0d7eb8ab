"""Where a slot is chosen: the earliest free slot instant of one (profile, platform), taken from
the free-slot inventory inside a transaction that holds that key's lock.

The inventory (`free_slots`) lists the free slot instants up to a mark (`materialized_until`).
Taking the earliest one at or after a given instant is one index probe, so the cost of an
assignment does not grow with the number of contents already queued. When the probe finds
nothing below the mark, the inventory is extended by a bounded chunk of days, computed from the
schedule in the profile's timezone, less the instants that contents already hold.

A daily cap (queuelabs/caps.py) may pass a free instant over: one more post there would put
more than the cap into some 24 hours. The search then goes on from the first instant the rule
allows, and the instant passed over stays in the inventory for later.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from uuid import UUID

from allocator.domain import KeyState
from allocator.errors import NoFreeSlot
from allocator.slots import instants_between, slot_at
from allocator.storage import Transaction
from queuelabs.caps import WINDOW, first_allowed
from queuelabs.clock import Clock

# One extension of the inventory adds at most about this many instants (and at least one day).
INSTANTS_PER_EXTENSION = 2048
MAX_DAYS_PER_EXTENSION = 35
# How far past the cap's reach the counted instants are read at once (a batch's next slots).
READ_AHEAD = timedelta(hours=6)


class Placement:
    """Takes and returns slot instants of one key, within one locked transaction."""

    def __init__(
        self,
        tx: Transaction,
        key: KeyState,
        clock: Clock,
        horizon: timedelta,
        cap: int | None = None,
        moving: UUID | None = None,
    ) -> None:
        self._moving = moving  # a content leaving its instant: it does not count as spending it
        self._tx = tx
        self._key = key
        self._clock = clock
        self._horizon = horizon
        self._profile = key.profile
        self._mark = key.materialized_until
        self._cap = cap
        self._counted: list[datetime] = []  # what the cap counts, sorted, in [_seen_from, _seen_to)
        self._seen_from = self._seen_to = datetime.max.replace(tzinfo=UTC)

    @classmethod
    async def open(
        cls,
        tx: Transaction,
        key: KeyState,
        clock: Clock,
        horizon: timedelta,
        cap: int | None = None,
        moving: UUID | None = None,
    ) -> Placement:
        """A placement for `key`, first rebuilding an inventory made for another timezone."""
        if key.inventory_timezone != key.profile.timezone:
            now = clock.now()
            profile = key.profile
            await tx.restart_inventory(profile.profile_id, key.platform, profile.timezone, now)
            key = key.with_fresh_inventory(now)
        return cls(tx, key, clock, horizon, cap, moving)

    async def take(self, not_before: datetime) -> tuple[datetime, UUID]:
        """Takes the earliest free slot instant at or after `not_before`, within the horizon,
        that keeps the daily cap."""
        until = not_before + self._horizon
        start = not_before
        while True:
            found = await self._tx.take_free_slot(
                self._profile.profile_id, self._key.platform, start, until
            )
            if found is not None:
                allowed = await self._first_allowed(found[0])
                if allowed == found[0]:
                    bisect.insort(self._counted, found[0])
                    return found
                await self._tx.return_free_slot(
                    self._profile.profile_id, self._key.platform, found[0], found[1]
                )
                start = allowed
                continue
            if self._mark >= until:
                raise NoFreeSlot(
                    f"no free {self._key.platform.value} slot for profile "
                    f"{self._profile.profile_id} between {not_before.isoformat()} and "
                    f"{until.isoformat()} (the {self._horizon.days}-day horizon); add slots "
                    "or release contents"
                )
            await self._extend(until)

    async def _first_allowed(self, at: datetime) -> datetime:
        """`at` when the cap allows one more post there, else where to look next."""
        if self._cap is None:
            return at
        if not (self._seen_from <= at - WINDOW and at + WINDOW <= self._seen_to):
            # Just the rule's reach, and a little more for the next slots of a batch: a single
            # assignment then reads no more than two days of one key, whatever the queue.
            self._seen_from, self._seen_to = at - WINDOW, at + WINDOW + READ_AHEAD
            self._counted = await self._tx.counted_instants(
                self._profile.profile_id,
                self._key.platform,
                self._seen_from,
                self._seen_to,
                self._moving,
            )
        return first_allowed(self._counted, at, self._cap)

    async def put_back(self, scheduled_at: datetime) -> None:
        """Returns a freed instant to the inventory, if it is still a future slot instant."""
        if not (self._clock.now() <= scheduled_at < self._mark):
            return  # past instants are never offered; beyond the mark, extension finds it
        slot_id = slot_at(self._key.rules, self._profile.zone, scheduled_at)
        if slot_id is not None:  # the schedule may have changed since the content took it
            await self._tx.return_free_slot(
                self._profile.profile_id, self._key.platform, scheduled_at, slot_id
            )

    async def _extend(self, until: datetime) -> None:
        now = self._clock.now()
        begin = max(self._mark, now)
        days = max(1, min(MAX_DAYS_PER_EXTENSION, INSTANTS_PER_EXTENSION // len(self._key.rules)))
        end = min(until, begin + timedelta(days=days))
        instants = instants_between(self._key.rules, self._profile.zone, begin, end)
        await self._tx.add_free_slots(
            self._profile.profile_id,
            self._key.platform,
            instants,
            until=end,
            prune_before=now,
            moving=self._moving,
        )
        self._mark = end
