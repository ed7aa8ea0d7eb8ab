"""`queuelabs check`: audits a live database against the invariants of both services and says
what it found, one line each with the ids to look at (queuelabs/audit.sql holds the queries).
Read only; safe to run from cron on any replica at any time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row

from queuelabs.database import connect
from queuelabs.lifecycle import (
    IN_LINE,
    LEASED,
    SLOT_HOLDING,
    SPENDS_SLOT,
    ContentState,
    Event,
    sources,
)
from queuelabs.sql import load_queries

QUERIES = load_queries(
    Path(__file__).with_name("audit.sql"),
    {
        "slot_holding": SLOT_HOLDING,
        "uploaded": ContentState.UPLOADED,
        "leased": LEASED,
        "in_line": IN_LINE,
        "to_publish": sources(Event.CLAIM),
        "spends_slot": SPENDS_SLOT,
    },
)

# What each finding means, for the one line it prints.
MEANING: dict[str, str] = {
    "stacked_slot": "contents share one slot",
    "two_successes": "published more than once",
    "uploaded_without_success": "uploaded without a success record",
    "success_not_uploaded": "has a success record but is not uploaded: may be published again",
    "lease_expired": "lease expired and not rescued",
    "overdue": "due long ago and not claimed: the scheduling loop is stopped or stuck",
    "inventory_offers_spent": "the free-slot inventory offers an instant a content has spent",
    "inventory_past_its_mark": "the free-slot inventory holds an instant past its mark",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    fields: dict[str, str]

    def line(self) -> str:
        details = " ".join(f"{name}={value}" for name, value in self.fields.items())
        return f"{self.kind}: {MEANING[self.kind]}: {details}"

    def as_json(self) -> str:
        return json.dumps({"finding": self.kind, "meaning": MEANING[self.kind], **self.fields})


def audit(database_url: str, now: datetime, stuck_after: timedelta) -> list[Finding]:
    """Every finding, in the order of MEANING."""
    params = {"stuck_before": now - stuck_after}
    findings = []
    with connect(database_url) as conn:
        conn.read_only = True  # one READ ONLY transaction: it can change nothing
        for kind in MEANING:
            rows = conn.cursor(row_factory=dict_row).execute(QUERIES[kind], params).fetchall()
            findings += [Finding(kind, {k: _text(v) for k, v in row.items()}) for row in rows]
    return findings


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def report(findings: list[Finding], as_json: bool, out: Callable[[str], None] = print) -> int:
    """Prints the findings; returns the exit status (1 when there is any)."""
    for finding in findings:
        out(finding.as_json() if as_json else finding.line())
    if not as_json:
        out(f"{len(findings)} finding(s)" if findings else "no findings: every invariant holds")
    return 1 if findings else 0
