"""Retention: `queuelabs prune --older-than 90d` deletes what is finished (uploaded, failed,
removed) past a retention period, with its attempts and success records, the inventory's
instants already past, and the event log older than its own retention (EVENTS_RETENTION,
default 30 days; `--events-older-than` overrides it), in small batches (each its own short
transaction), never waiting for a lock the services hold (SKIP LOCKED). Safe to run again,
and from cron on every replica at once: two prunes skip each other's rows. Content in line, in
flight or recent is never touched.

The inventory's rule is the Allocator's too: it runs the same statement (`prune_free_slots`)
for the key whose inventory it extends; the event log's is the Uploader's event pruner's
(`prune_events`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from queuelabs.database import connect
from queuelabs.env import ConfigError
from queuelabs.lifecycle import FINISHED
from queuelabs.sql import load_queries

QUERIES = load_queries(Path(__file__).with_name("retention.sql"), {"finished": FINISHED})
# Rows one statement deletes at most (a short transaction; never a long hold on the table).
PRUNE_BATCH = 1000
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
# How long the event log is kept when EVENTS_RETENTION does not say.
EVENTS_RETENTION = "30d"


@dataclass
class Pruned:
    contents: int = 0
    free_slots: int = 0
    events: int = 0
    batches: int = 0


def retention_period(text: str, setting: str = "--older-than") -> timedelta:
    """`90d`, `36h`, `30m`: a positive number of days, hours or minutes; a bad one is a
    ConfigError naming `setting` (the flag or variable it came from)."""
    found = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if not found or int(found.group(1)) == 0:
        raise ConfigError(f"{setting}: {text!r} is not a retention period like 90d, 36h or 30m")
    return int(found.group(1)) * _UNITS[found.group(2)]


def prune(
    database_url: str,
    before: datetime,
    now: datetime,
    batch: int = PRUNE_BATCH,
    events_before: datetime | None = None,
) -> Pruned:
    """Deletes contents finished before `before`, inventory instants before `now`, and events
    that happened before `events_before` (None: no event)."""
    done = Pruned()
    steps: list[tuple[str, dict[str, object]]] = [
        ("prune_contents", {"before": before, "batch": batch}),
        # every key's past instants (the Allocator runs it for one key: see the SQL)
        ("prune_free_slots", {"before": now, "batch": batch, "profile_id": None, "platform": None}),
    ]
    if events_before is not None:
        steps.append(("prune_events", {"before": events_before, "batch": batch}))
    with connect(database_url, autocommit=True) as conn:  # a transaction per batch
        for name, params in steps:
            while True:
                deleted = len(conn.execute(QUERIES[name], params).fetchall())
                done.batches += 1
                if name == "prune_contents":
                    done.contents += deleted
                elif name == "prune_free_slots":
                    done.free_slots += deleted
                else:
                    done.events += deleted
                if deleted < batch:
                    break
    return done
