"""Pacing to Upload-Post's limits, as pure rules: how many requests may go out now, given what
every replica sent in the last minute.

The plan's rate (`requests_per_minute`) counts every request: posts, status polls, history
look-ups. Posts may use it only up to `posts_ceiling`, so that a share is always left for the
look-ups that decide whether something was published: a herd of new posts never starves them.
Each Upload-Post user may also post at most `posts_per_minute_per_profile` times a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Upload-Post counts a minute from each request's arrival; we count from just before sending, so
# a request that is slow to arrive could otherwise land in the same minute as one sent a minute
# after it. The margin absorbs that.
WINDOW = timedelta(minutes=1) + timedelta(seconds=2)
LOOK_UP_SHARE = 0.1  # of the plan's rate, kept from posts for look-ups


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int = 100
    posts_per_minute_per_profile: int = 2

    @property
    def posts_ceiling(self) -> int:
        """How many of the last minute's requests posts may fill."""
        kept = max(1, int(self.requests_per_minute * LOOK_UP_SHARE))
        return max(1, self.requests_per_minute - kept)


@dataclass(frozen=True)
class Room:
    """What may be sent now; `frees_at`: when more room comes, if none is left of a kind."""

    look_ups: int
    posts: int
    frees_at: datetime | None


def room(
    limits: Limits,
    now: datetime,
    sent: int,
    oldest: datetime | None,
    blocked_until: datetime | None,
) -> Room:
    """The room left by `sent` requests in the minute before `now` (the oldest of them at
    `oldest`), unless Upload-Post asked us to wait until `blocked_until`."""
    if blocked_until is not None and blocked_until > now:
        return Room(0, 0, blocked_until)
    look_ups = max(0, limits.requests_per_minute - sent)
    posts = max(0, limits.posts_ceiling - sent)
    frees_at = oldest + WINDOW if oldest is not None and posts == 0 else None
    return Room(look_ups, posts, frees_at)
