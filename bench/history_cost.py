"""Does a long history slow the hot path? The end-to-end benchmarks on an empty database and on
one holding a long history (bench.history: 2 million finished contents of 10,000 profiles with
their attempts and success records, and finished contents on each benchmark key too), on the
same PostgreSQL server in the same run, in alternating order, several rounds; prints each
figure's median on both and history / empty (target: within 10%).

  Allocator (bench.allocator_e2e): P1 5,000 AssignNext on one key, P3 20,000 over 200 keys,
    P4 100 BatchAssign x 100, 2 replicas, 100 in flight: assignments/s, and the same as a
    ratio to the echo ceiling of its own run (which takes the machine's drift out).
  Uploader (bench.herd, unpaced): 1,000 contents due at once, 2 replicas: posts/s and the
    time until all settled; `--paced` adds the paced herd (dispatch lag p50 / p99, settled).

Every database is a file copy of a migrated template (the empty one or the seeded one), so both
sides start alike. Printed beside each side's rates: PostgreSQL's CPU, write-ahead log bytes and
shared-buffer misses per assignment or content, which show where a history costs the server
work. `--uuid7` has the Allocator benchmark's client use time-ordered content ids.
`--contents 0` runs both sides on empty databases: how far this machine's noise alone moves
the medians (an A/A comparison).

Run: `uv run python -m bench.history_cost` (BENCH_DATABASE_URL, DATABASE_URL, or an embedded
PostgreSQL; `--contents`, `--rounds`, `--scale`). Loopback only; it stops by itself.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from contextlib import ExitStack

import psycopg
from psycopg.conninfo import make_conninfo

from bench import allocator_e2e, herd
from bench.database import bench_server, fresh_database
from bench.history import history_template

SCENARIOS = {"P1", "P3", "P4"}
# The figures the 10% target is about: rates (more is better) and times in seconds (less is);
# the rest (CPU, WAL, misses per call) say where the server's work went, with no target.
HIGHER_IS_BETTER = ("/s", "x echo")
TIMES = " s"


def one_side(
    server_url: str, template: str, history: int, scale: float, paced: bool, uuid7_ids: bool
) -> dict[str, float]:
    """Every figure of one side (empty or with history) once, each on a fresh copy."""
    figures: dict[str, float] = {}
    with fresh_database(server_url, template) as database_url:
        results = allocator_e2e.measure(
            database_url,
            SCENARIOS,
            scale,
            key_history=allocator_e2e.KEY_HISTORY if history else 0,
            uuid7_ids=uuid7_ids,
        )
    for label, (run, echo) in results.items():
        name = label.split()[0]
        figures[f"{name} assignments/s"] = run.rate
        figures[f"{name} x echo"] = run.rate / echo.rate
        figures[f"{name} PG CPU us/assignment"] = run.server.cpu / run.assignments * 1e6
        figures[f"{name} WAL bytes/assignment"] = run.server.wal / run.assignments
        figures[f"{name} misses/assignment"] = run.server.misses / run.assignments
    profiles = max(1, int(500 * scale))
    with fresh_database(server_url, template) as database_url:
        free = herd.run_herd(
            profiles, paced=False, in_flight=100, history=history, database_url=database_url
        )
    figures["herd unpaced posts/s"] = herd.posting_rate(free.requests)
    figures["herd unpaced settled s"] = free.seconds
    settled = profiles * len(herd.PLATFORMS)
    figures["herd Uploader CPU ms/content"] = free.uploader_cpu / settled * 1e3
    figures["herd PG CPU ms/content"] = free.server.cpu / settled * 1e3
    figures["herd WAL bytes/content"] = free.server.wal / settled
    figures["herd misses/content"] = free.server.misses / settled
    if paced:
        with fresh_database(server_url, template) as database_url:
            slow = herd.run_herd(
                profiles, paced=True, in_flight=100, history=history, database_url=database_url
            )
        lags = list(slow.lags.values())
        figures["herd paced lag p50 s"] = herd.pct(lags, 0.5)
        figures["herd paced lag p99 s"] = herd.pct(lags, 0.99)
        figures["herd paced settled s"] = slow.seconds
    return figures


def footprint(server_url: str, template: str, contents: int) -> None:
    """What the seeded history takes on disk: each big table (rows, heap + indexes + TOAST),
    and the whole database per content."""
    with psycopg.connect(make_conninfo(server_url, dbname=template)) as conn:
        tables = conn.execute(
            "select relname, n_live_tup, pg_total_relation_size(relid),"
            "       pg_indexes_size(relid) from pg_stat_user_tables"
            " where relname in ('contents', 'upload_attempts', 'upload_successes')"
            " order by relname"
        ).fetchall()
        row = conn.execute("select pg_database_size(current_database())").fetchone()
    assert row is not None
    for name, rows, total, indexes in tables:
        print(
            f"  {name:<17} {rows:>10,} rows  {total / 2**20:8.1f} MiB"
            f" ({indexes / 2**20:.1f} MiB indexes)  {total / contents:6.0f} bytes per content"
        )
    size = row[0]
    print(f"  database          {size / 2**20:8.1f} MiB = {size / contents:.0f} bytes per content")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contents",
        type=int,
        default=2_000_000,
        help="finished contents seeded (0: both sides empty, the machine's own noise)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="every scenario's size times this")
    parser.add_argument("--paced", action="store_true", help="also the paced herd (slow)")
    parser.add_argument(
        "--uuid7", action="store_true", help="the Allocator's content ids are version 7 UUIDs"
    )
    args = parser.parse_args()

    with bench_server() as server_url, ExitStack() as stack:
        empty = stack.enter_context(history_template(server_url, 0))
        started = time.monotonic()
        seeded = stack.enter_context(history_template(server_url, args.contents))
        print(f"seeded {args.contents:,} finished contents in {time.monotonic() - started:.0f} s")
        if args.contents:
            footprint(server_url, seeded, args.contents)
        sides: dict[str, dict[str, list[float]]] = {
            "empty": defaultdict(list),
            "history": defaultdict(list),
        }
        for round_ in range(args.rounds):
            order = ["empty", "history"] if round_ % 2 == 0 else ["history", "empty"]
            for side in order:
                print(f"\nround {round_ + 1}, {side}", flush=True)
                figures = one_side(
                    server_url,
                    empty if side == "empty" else seeded,
                    args.contents if side == "history" else 0,
                    args.scale,
                    args.paced,
                    args.uuid7,
                )
                for name, value in figures.items():
                    sides[side][name].append(value)

    print(
        f"\nmedians of {args.rounds} rounds: empty database vs {args.contents:,} finished"
        " contents (target: rates and times of history within 10% of empty, ! where not;"
        " the other rows show where the server's work went)"
    )
    print(
        f"{'figure':<28} {'empty':>10} {'history':>10} {'history/empty':>14}"
        "  runs (empty | history)"
    )
    for name, values in sides["empty"].items():
        before, after = statistics.median(values), statistics.median(sides["history"][name])
        ratio = after / before if before else (1.0 if not after else float("inf"))
        if name.endswith(HIGHER_IS_BETTER):
            verdict = "" if ratio >= 0.9 else "!"
        elif name.endswith(TIMES):
            verdict = "" if ratio <= 1.1 else "!"
        else:
            verdict = " "  # no target
        runs = (
            " ".join(f"{v:.3g}" for v in values)
            + " | "
            + " ".join(f"{v:.3g}" for v in sides["history"][name])
        )
        print(f"{name:<28} {before:>10.3g} {after:>10.3g} {ratio:>13.2f}{verdict}  {runs}")


if __name__ == "__main__":
    main()
