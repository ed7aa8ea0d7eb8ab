"""Where a slot is chosen: the earliest free slot instant of one (profile, platform), taken from
the free-slot inventory inside a transaction that holds that key's lock.

The inventory (`free_slots`) lists the free slot instants up to a mark (`materialized_until`).
A placement reads the earliest of them at or after where it looks into memory, a run at a time
(an index range scan, so the cost does not grow with the number of contents already queued),
and takes from there; what it took leaves the inventory when the caller writes the takes
(`taken()`, `flush()`), in one statement with its contents. When nothing is left below the
mark, the inventory is extended by a bounded chunk of days, computed from the schedule in the
profile's timezone, less the instants that contents already hold.

A daily cap (queuelabs/caps.py) may pass a free instant over: one more post there would put
more than the cap into some 24 hours. The search then goes on from the first instant the rule
allows, and the instant passed over stays in the inventory for later.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from allocator.domain import KeyState
from allocator.errors import NoFreeSlot
from allocator.slots import instants_between, slot_at
from allocator.storage import Key, Transaction
from queuelabs.caps import WINDOW, first_allowed
from queuelabs.clock import Clock

# One extension of the inventory adds at most about this many instants (and at least one day).
INSTANTS_PER_EXTENSION = 2048
MAX_DAYS_PER_EXTENSION = 35
# How far past the cap's reach the counted instants are read at once (a batch's next slots).
READ_AHEAD = timedelta(hours=6)
# Free instants read at once when a placement runs out of those it read.
READ_RUN = 64
_END = datetime.max.replace(tzinfo=UTC)


class Placement:
    """Takes and returns slot instants of one key, within one locked transaction.

    It knows every free instant of the inventory in [_free_from, _free_to) (less those it took),
    and what the daily cap counts in [_seen_from, _seen_to) (plus what it took).
    """

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
        self._free: list[tuple[datetime, UUID]] = []  # sorted
        self._free_from = self._free_to = _END
        self._taken: list[tuple[datetime, UUID]] = []  # in order of taking
        self._flushed = 0  # how many of _taken have left the inventory already
        self._counted: list[datetime] = []  # sorted
        self._count_only: int | None = None  # set: _counted is not known, only its length
        self._seen_from = self._seen_to = _END

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

    @property
    def key(self) -> Key:
        return (self._profile.profile_id, self._key.platform)

    @property
    def cap(self) -> int | None:
        return self._cap

    def knows_free(
        self, start: datetime, found: Sequence[tuple[datetime, UUID]], asked: int
    ) -> None:
        """Hands over the earliest free instants from `start` on, read for several keys at once;
        `asked` is how many were asked for."""
        self._free, self._free_from = list(found), start
        self._free_to = self._complete_to(found, asked)

    def free_span(self, start: datetime) -> tuple[datetime, datetime]:
        """The first and the last free instant known from `start` on (`start` if none)."""
        if not self._free:
            return start, start
        return max(start, self._free[0][0]), max(start, self._free[-1][0])

    def knows_counted(
        self, start: datetime, until: datetime, counted: list[datetime] | None, count: int = 0
    ) -> None:
        """Hands over what the cap counts in [start, until), read for several keys at once:
        the instants, or (None) only how many there are, when that is too few for the cap to
        bind."""
        self._seen_from, self._seen_to = start, until
        mine = [at for at, _ in self._taken if start <= at < until]
        if counted is None:
            self._counted, self._count_only = [], count + len(mine)
        else:
            self._counted, self._count_only = sorted(counted + mine), None

    async def take(self, not_before: datetime) -> tuple[datetime, UUID]:
        """Takes the earliest free slot instant at or after `not_before`, within the horizon,
        that keeps the daily cap."""
        until = not_before + self._horizon
        start = not_before
        while True:
            i = await self._first_free(start, until)
            if i is None:
                raise NoFreeSlot(
                    f"no free {self._key.platform.value} slot for profile "
                    f"{self._profile.profile_id} between {not_before.isoformat()} and "
                    f"{until.isoformat()} (the {self._horizon.days}-day horizon); add slots "
                    "or release contents",
                    profile_id=self._profile.profile_id,
                    platform=self._key.platform.value,
                )
            found = self._free[i]
            allowed = await self._first_allowed(found[0])
            if allowed == found[0]:
                del self._free[i]
                self._taken.append(found)
                if self._cap is not None:
                    self._count(found[0], 1)
                return found
            start = allowed  # the instant passed over stays free for later

    def mark(self) -> int:
        """A point to go back to with `undo`."""
        return len(self._taken)

    def undo(self, mark: int) -> None:
        """Gives back what was taken since `mark` (nothing of it has left the inventory)."""
        if mark < self._flushed:
            raise ValueError("what was flushed cannot be given back")
        while len(self._taken) > mark:
            at, slot_id = self._taken.pop()
            if self._free_from <= at < self._free_to:
                bisect.insort(self._free, (at, slot_id))
            if self._cap is not None:
                self._count(at, -1)

    def taken(self) -> list[tuple[Key, datetime]]:
        """What was taken and has not left the inventory yet; the caller takes it out (in one
        statement for many placements) and the placement counts it as gone."""
        fresh = [(self.key, at) for at, _ in self._taken[self._flushed :]]
        self._flushed = len(self._taken)
        return fresh

    async def flush(self) -> None:
        await self._tx.take_free_slots(self.taken())

    async def _first_free(self, start: datetime, until: datetime) -> int | None:
        """Where in _free the earliest free instant in [start, until) is, reading as needed."""
        if not (self._free_from <= start <= self._free_to):
            self._free, self._free_from, self._free_to = [], start, start
        while True:
            i = bisect.bisect_left(self._free, start, key=lambda free: free[0])
            if i < len(self._free):
                return i if self._free[i][0] < until else None
            if self._free_to >= until:
                return None
            if self._free_to >= self._mark:
                if self._mark >= until:
                    return None
                await self._extend(until)
                continue
            await self._read_more()

    async def _read_more(self) -> None:
        [found] = await self._tx.free_slots_from([(self.key, self._free_to, READ_RUN)])
        taken = {at for at, _ in self._taken}
        self._free.extend(f for f in found if f[0] not in taken)
        self._free_to = self._complete_to(found, READ_RUN)

    def _complete_to(self, found: Sequence[tuple[datetime, UUID]], asked: int) -> datetime:
        """Where a read of `asked` instants that found `found` stops knowing the inventory."""
        if len(found) < asked:
            return self._mark  # all there is: the inventory holds nothing past its mark
        return found[-1][0] + timedelta(microseconds=1)

    async def _first_allowed(self, at: datetime) -> datetime:
        """`at` when the cap allows one more post there, else where to look next."""
        if self._cap is None:
            return at
        if self._seen_from <= at - WINDOW and at + WINDOW <= self._seen_to:
            if self._count_only is None:
                return first_allowed(self._counted, at, self._cap)
            if self._count_only < self._cap:
                return at  # fewer than the cap in all of the rule's reach: one more fits
            start, until = self._seen_from, self._seen_to  # the same reach, instant by instant
        else:
            # Just the rule's reach, and a little more for the next slots of a batch: a single
            # assignment then reads no more than two days of one key, whatever the queue.
            start, until = at - WINDOW, at + WINDOW + READ_AHEAD
        counted = await self._tx.counted_instants(
            self._profile.profile_id, self._key.platform, start, until, self._moving
        )
        self.knows_counted(start, until, counted)
        return first_allowed(self._counted, at, self._cap)

    def _count(self, at: datetime, change: int) -> None:
        """Counts an instant taken (+1) or given back (-1) where the cap is being watched."""
        if not (self._seen_from <= at < self._seen_to):
            return
        if self._count_only is not None:
            self._count_only += change
        elif change > 0:
            bisect.insort(self._counted, at)
        else:
            self._counted.remove(at)

    async def put_back(self, scheduled_at: datetime) -> None:
        """Returns a freed instant to the inventory, if it is still a future slot instant."""
        if not (self._clock.now() <= scheduled_at < self._mark):
            return  # past instants are never offered; beyond the mark, extension finds it
        slot_id = slot_at(self._key.rules, self._profile.zone, scheduled_at)
        if slot_id is not None:  # the schedule may have changed since the content took it
            await self._tx.return_free_slot(
                self._profile.profile_id, self._key.platform, scheduled_at, slot_id
            )
            if self._free_from <= scheduled_at < self._free_to:
                bisect.insort(self._free, (scheduled_at, slot_id))

    async def prepare(self) -> None:
        """Fills the first chunk of a new inventory now, so that the first burst for a new
        schedule does not pay for it inside its transaction."""
        await self._extend(self._clock.now() + self._horizon)

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
