"""Does a long history slow the hot path? The end-to-end benchmarks on an empty database and on
one holding a long history (bench.history: 2 million finished contents of 10,000 profiles with
their attempts and success records, and finished contents on each benchmark key too), on the
same PostgreSQL server in the same run, several rounds; prints each figure's median on both and
history / empty (target: within 10%).

  Allocator (bench.allocator_e2e): P1 5,000 AssignNext on one key, P3 20,000 over 200 keys,
    P4 100 BatchAssign x 100, 2 replicas, 100 in flight: assignments/s, the same as a ratio to
    the echo ceiling of its own run (which takes the machine's drift out), and the CPU the
    whole machine spent per assignment (client, replicas and PostgreSQL).
  Uploader (bench.herd, unpaced): 1,000 contents due at once, 2 replicas: posts/s, the time
    until all settled, and CPU per content (the Uploader replicas' and PostgreSQL's);
    `--paced` adds the paced herd (dispatch lag p50 / p99, settled).

How it compares: each round runs every side once, back to back in a rotating order, and the
ratio is taken within the round (history / empty of the same round), so that the machine's
slow drift between rounds cancels; the figure is the median of the rounds' ratios. Each round
also runs a second empty database (the control, `--no-control` to skip): control / empty is
what this machine's noise alone gives, printed beside every ratio. Every database is a file
copy of a migrated template (the empty one or the seeded one), so the sides start alike.
PostgreSQL's write-ahead log bytes and shared-buffer misses per call are printed too: where a
history costs the server work. `--uuid7` makes every content id time-ordered (the Allocator
benchmark's client's and the herd's); `--parts herd` runs only the herd. `--contents 0`
seeds nothing (history is then a second empty side).

Run: `uv run python -m bench.history_cost` (BENCH_DATABASE_URL, DATABASE_URL, or an embedded
PostgreSQL; `--contents`, `--rounds`, `--scale`). Loopback only; it stops by itself.
"""

from __future__ import annotations

import argparse
import itertools
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
# The figures the 10% target is about, by how their name ends: rates (more is better), times
# in seconds and the whole machine's CPU per call (less is); the rest (PostgreSQL's share of
# the CPU, WAL, misses per call) say where the server's work went, with no target.
HIGHER_IS_BETTER = ("/s", "x echo")
LOWER_IS_BETTER = (" s", "machine CPU us/assignment", "machine CPU ms/content")
TARGET = 0.10


def one_side(
    server_url: str,
    template: str,
    history: int,
    args: argparse.Namespace,
) -> dict[str, float]:
    """Every figure of one side (empty or with history) once, each on a fresh copy."""
    figures: dict[str, float] = {}
    if "allocator" in args.parts:
        with fresh_database(server_url, template) as database_url:
            results = allocator_e2e.measure(
                database_url,
                SCENARIOS,
                args.scale,
                key_history=allocator_e2e.KEY_HISTORY if history else 0,
                uuid7_ids=args.uuid7,
            )
    else:
        results = {}
    for label, (run, echo) in results.items():
        name = label.split()[0]
        figures[f"{name} assignments/s"] = run.rate
        figures[f"{name} x echo"] = run.rate / echo.rate
        machine = run.client_cpu + run.replica_cpu + run.server.cpu
        figures[f"{name} machine CPU us/assignment"] = machine / run.assignments * 1e6
        figures[f"{name} PG CPU us/assignment"] = run.server.cpu / run.assignments * 1e6
        figures[f"{name} WAL bytes/assignment"] = run.server.wal / run.assignments
        figures[f"{name} misses/assignment"] = run.server.misses / run.assignments
    if "herd" not in args.parts:
        return figures
    profiles = max(1, int(500 * args.scale))

    def herd_of(paced: bool) -> herd.Herd:
        with fresh_database(server_url, template) as database_url:
            return herd.run_herd(
                profiles,
                paced=paced,
                in_flight=100,
                history=history,
                database_url=database_url,
                uuid7_ids=args.uuid7,
            )

    free = herd_of(paced=False)
    figures["herd unpaced posts/s"] = herd.posting_rate(free.requests)
    figures["herd unpaced settled s"] = free.seconds
    settled = profiles * len(herd.PLATFORMS)
    figures["herd machine CPU ms/content"] = (free.uploader_cpu + free.server.cpu) / settled * 1e3
    figures["herd Uploader CPU ms/content"] = free.uploader_cpu / settled * 1e3
    figures["herd PG CPU ms/content"] = free.server.cpu / settled * 1e3
    figures["herd WAL bytes/content"] = free.server.wal / settled
    figures["herd misses/content"] = free.server.misses / settled
    if args.paced:
        slow = herd_of(paced=True)
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


def verdict(name: str, ratio: float) -> str:
    """A ratio's mark: "!" where it misses the target, " " where it meets it or has none."""
    if name.endswith(HIGHER_IS_BETTER) and ratio < 1 - TARGET:
        return "!"
    if name.endswith(LOWER_IS_BETTER) and ratio > 1 + TARGET:
        return "!"
    return " "


def paired(after: list[float], before: list[float]) -> list[float]:
    """Each round's ratio after / before (1.0 where both are nothing)."""
    pairs = zip(after, before, strict=True)
    return [a / b if b else (1.0 if not a else float("inf")) for a, b in pairs]


def report(sides: dict[str, dict[str, list[float]]], rounds: int, contents: int) -> None:
    control = "control" in sides
    print(
        f"\n{rounds} rounds: empty database vs {contents:,} finished contents; each ratio is the"
        f" median over rounds of that round's history / empty (target: within"
        f" {TARGET:.0%}, ! where not){'; control / empty: the noise alone' if control else ''}"
    )
    print(
        f"{'figure':<34} {'empty':>9} {'history':>9} {'history/empty':>14}"
        f"{'control/empty' if control else '':>15}  rounds' ratios"
    )
    for name, values in sides["empty"].items():
        ratios = paired(sides["history"][name], values)
        ratio = statistics.median(ratios)
        noise = (
            f"{statistics.median(paired(sides['control'][name], values)):>15.2f}"
            if control
            else f"{'':>15}"
        )
        print(
            f"{name:<34} {statistics.median(values):>9.3g}"
            f" {statistics.median(sides['history'][name]):>9.3g}"
            f" {ratio:>13.2f}{verdict(name, ratio)}{noise}  " + " ".join(f"{r:.2f}" for r in ratios)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contents",
        type=int,
        default=2_000_000,
        help="finished contents seeded (0: history is a second empty database)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="every scenario's size times this")
    parser.add_argument("--paced", action="store_true", help="also the paced herd (slow)")
    parser.add_argument(
        "--uuid7", action="store_true", help="every content id made is a version 7 UUID"
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["allocator", "herd"],
        default=["allocator", "herd"],
        help="which benchmarks to run (default both)",
    )
    parser.add_argument(
        "--control",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="each round also runs a second empty database: the machine's own noise",
    )
    args = parser.parse_args()

    with bench_server() as server_url, ExitStack() as stack:
        empty = stack.enter_context(history_template(server_url, 0))
        started = time.monotonic()
        seeded = stack.enter_context(history_template(server_url, args.contents))
        print(f"seeded {args.contents:,} finished contents in {time.monotonic() - started:.0f} s")
        if args.contents:
            footprint(server_url, seeded, args.contents)
        names = ["empty", "history"] + (["control"] if args.control else [])
        sides: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in names}
        orders = itertools.cycle(itertools.permutations(names))
        for round_ in range(args.rounds):
            for side in next(orders):
                print(f"\nround {round_ + 1}, {side}", flush=True)
                figures = one_side(
                    server_url,
                    seeded if side == "history" else empty,
                    args.contents if side == "history" else 0,
                    args,
                )
                for name, value in figures.items():
                    sides[side][name].append(value)
    report(sides, args.rounds, args.contents)


if __name__ == "__main__":
    main()
