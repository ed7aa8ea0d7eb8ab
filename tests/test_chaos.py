"""Allocator chaos in CI: 2,000 contents through three replicas, one SIGKILLed and started again
every 2 s, clients retrying with the same content ids (chaos/allocator.py; the same run at any
size: `uv run python -m chaos.allocator --contents N`)."""

from __future__ import annotations

from chaos.allocator import run


def test_replicas_killed_every_two_seconds_lose_move_or_stack_nothing(database_url):
    tally = run(database_url, contents=2000, rate=250, limit=600)
    print("\n" + tally.report())
    assert tally.kills >= 2  # the run is paced to last 8 s at least
    assert tally.retries > 0  # calls in flight on a killed replica were sent again
    assert len(tally.acknowledged) == 2000
    assert tally.stacked == 0
    assert tally.moved == 0
    assert tally.lost == 0
    assert tally.told_twice_differently == 0
    assert tally.refused == {}
    assert tally.audit_findings == 0
    assert tally.log_lines > 2000  # an access line a call at least: the grep had lines to read
    assert tally.secrets_in_logs == 0
