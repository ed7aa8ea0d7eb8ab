"""Chaos in CI, each the same run its command makes at any size:
- Allocator (chaos/allocator.py, `uv run python -m chaos.allocator --contents N`): 2,000
  contents through three replicas, one SIGKILLed and started again every 2 s, clients retrying
  with the same content ids.
- Uploader (chaos/uploader.py, `uv run python -m chaos.uploader --contents N`): 500 contents
  published by two replicas, one SIGKILLed every 5 s, through a sandbox failing a fifth of all
  requests in every documented way, with its Idempotency-Key deduplication off."""

from __future__ import annotations

import pytest

from chaos import allocator, uploader


# Minutes on a loaded machine (seen: beside a second copy of the suite), seconds on a quiet one;
# the runs stop by themselves within their limits.
@pytest.mark.timeout(1800)
def test_allocator_replicas_killed_every_two_seconds_lose_move_or_stack_nothing(database_url):
    tally = allocator.run(database_url, contents=2000, rate=250, limit=1500)
    print("\n" + tally.report())
    assert tally.kills >= 1  # paced to last 8 s at least; the first kill comes at 2 s
    assert tally.retries > 0  # calls in flight on a killed replica were sent again
    assert len(tally.acknowledged) == 2000
    assert tally.stacked == 0
    assert tally.moved == 0
    assert tally.lost == 0
    assert tally.told_twice_differently == 0
    assert tally.refused == {}
    assert tally.audit_findings == 0
    assert tally.index_refusals == 0  # the locks serialized every placement
    assert tally.log_lines > 2000  # an access line a call at least: the grep had lines to read
    assert tally.secrets_in_logs == 0


@pytest.mark.timeout(1800)
def test_uploader_replicas_killed_under_faults_publish_each_content_once_or_say_why(
    database_url,
):
    tally = uploader.run(database_url, contents=500, limit=1500)
    print("\n" + tally.report())
    assert tally.kills >= 1  # the first when a tenth had settled: mid-run
    assert tally.claims_killed > 0  # a replica died holding contents mid-publish
    assert sum(tally.faults.values()) > 0.1 * tally.requests  # the faults were met
    assert tally.lost == 0
    assert tally.uploaded + tally.failed == 500
    assert tally.published_twice == 0
    assert tally.uploaded_unpublished == 0
    assert tally.failed_published == 0
    assert tally.failed_unexplained == []
    assert tally.failed == tally.failed_explained
    assert tally.audit_findings == 0
    assert tally.log_lines > 500  # a line a publish at least: the grep had lines to read
    assert tally.secrets_in_logs == 0
    assert tally.secrets_in_database == 0
    assert tally.holds()
