"""The rolling 24 h cap rule, against a brute-force reading of it on many seeded random cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from queuelabs.caps import WINDOW, first_allowed, fullest_window

T0 = datetime(2026, 3, 26, tzinfo=UTC)


def keeps_cap(instants: list[datetime], cap: int) -> bool:
    ordered = sorted(instants)
    return all(ordered[i + cap] - ordered[i] >= WINDOW for i in range(len(ordered) - cap))


def random_valid(rng: random.Random, cap: int, count: int) -> list[datetime]:
    taken: list[datetime] = []
    for _ in range(count * 3):
        candidate = T0 + timedelta(minutes=rng.randrange(0, 4 * 24 * 60, 30))
        if candidate not in taken and keeps_cap([*taken, candidate], cap):
            taken.append(candidate)
        if len(taken) == count:
            break
    return sorted(taken)


@pytest.mark.parametrize("seed", range(40))
def test_first_allowed_agrees_with_the_rule_and_never_skips_an_allowed_instant(seed):
    rng = random.Random(seed)
    cap = rng.choice([1, 2, 3, 5])
    taken = random_valid(rng, cap, rng.randrange(0, 12))
    at = T0 + timedelta(minutes=rng.randrange(0, 4 * 24 * 60, 15))
    if at in taken:
        return
    bound = first_allowed(taken, at, cap)
    assert (bound == at) == keeps_cap([*taken, at], cap)
    assert bound >= at
    step = timedelta(minutes=15)
    probe = at + step
    while probe < bound:  # nothing between `at` and the bound would have been allowed
        assert probe in taken or not keeps_cap([*taken, probe], cap), (taken, at, probe, bound)
        probe += step


def test_a_full_day_pushes_the_next_post_until_the_first_of_them_is_24_hours_old():
    taken = [T0 + timedelta(hours=h) for h in range(0, 15)]  # TikTok's 15, hourly from 00:00
    assert first_allowed(taken, T0 + timedelta(hours=15), 15) == T0 + timedelta(hours=24)
    assert first_allowed(taken, T0 + timedelta(hours=24), 15) == T0 + timedelta(hours=24)
    assert first_allowed(taken, T0 - timedelta(hours=1), 15) == T0 + timedelta(hours=24)


def test_the_fullest_window_counts_a_rolling_day():
    evening = [T0 + timedelta(hours=20 + h) for h in range(4)]  # 20:00-23:00
    morning = [T0 + timedelta(days=1, hours=h) for h in range(4)]  # 00:00-03:00 next day
    assert fullest_window(evening + morning) == 8
    assert fullest_window([]) == 0
    assert fullest_window([T0, T0 + WINDOW]) == 1
