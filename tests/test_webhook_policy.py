"""The webhook retry schedule and the endpoint's disabling, as pure functions: Svix's schedule
(about 27.5 hours over eight tries) with a tenth of jitter either way, a longer Retry-After
honoured, and a day of failures in a row to disable an endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from uploader.webhooks.policy import (
    ATTEMPTS,
    DISABLE_AFTER,
    DISABLE_AFTER_FAILURES,
    RETRY_DELAYS,
    Answer,
    Verdict,
    disable_reason,
    retry_delay,
)

T = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts_made", "middle"),
    [
        (1, timedelta(seconds=5)),
        (2, timedelta(minutes=5)),
        (3, timedelta(minutes=30)),
        (4, timedelta(hours=2)),
        (5, timedelta(hours=5)),
        (6, timedelta(hours=10)),
        (7, timedelta(hours=10)),
        (8, None),  # the eighth try was the last
    ],
)
def test_the_schedule_step_by_step(attempts_made, middle):
    assert retry_delay(attempts_made, 0.5) == middle


def test_the_schedule_spans_about_27_and_a_half_hours_over_eight_tries():
    assert ATTEMPTS == 8
    assert sum(RETRY_DELAYS, timedelta()) == timedelta(hours=27, minutes=35, seconds=5)


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.9), (0.25, 0.95), (0.999999, 1.1)])
def test_jitter_moves_a_wait_a_tenth_either_way_at_most(draw, factor):
    delay = retry_delay(4, draw)
    assert delay is not None
    assert abs(delay - timedelta(hours=2) * factor) < timedelta(seconds=1)


def test_a_longer_retry_after_is_honoured_up_to_ten_hours_and_a_shorter_is_not():
    assert retry_delay(1, 0.5, server_wait=60) == timedelta(seconds=60)
    assert retry_delay(3, 0.5, server_wait=60) == timedelta(minutes=30)
    assert retry_delay(1, 0.5, server_wait=10**9) == timedelta(hours=10)


def test_scale_shortens_every_wait_for_demos_and_tests():
    assert retry_delay(2, 0.5, scale=0.001) == timedelta(seconds=0.3)


@pytest.mark.parametrize("attempts_made", [0, -1, 9])
def test_no_wait_outside_the_schedule(attempts_made):
    assert retry_delay(attempts_made, 0.5) is None


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (299, Verdict.DELIVERED),
        (301, Verdict.FAILED),  # redirects are not followed: the URL should be updated
        (400, Verdict.FAILED),
        (404, Verdict.FAILED),
        (410, Verdict.GONE),
        (429, Verdict.FAILED),
        (500, Verdict.FAILED),
        (None, Verdict.FAILED),  # a timeout, a reset
    ],
)
def test_what_an_answer_means(status, verdict):
    assert Answer(status).verdict is verdict


@pytest.mark.parametrize(
    ("failures", "for_how_long", "disabled"),
    [
        (DISABLE_AFTER_FAILURES, DISABLE_AFTER, True),
        (DISABLE_AFTER_FAILURES - 1, DISABLE_AFTER * 5, False),  # too few, however long
        (DISABLE_AFTER_FAILURES * 10, DISABLE_AFTER - timedelta(seconds=1), False),  # too soon
        (0, timedelta(0), False),
    ],
)
def test_an_endpoint_is_disabled_after_enough_failures_over_a_day(failures, for_how_long, disabled):
    reason = disable_reason(failures, T, T + for_how_long)
    assert (reason is not None) is disabled
    if disabled:
        assert reason == f"{failures} deliveries failed in a row over 24 hours"
