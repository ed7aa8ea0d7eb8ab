"""The Uploader's duties are one list: every worker module in uploader/workers/ is in it (a duty
left out is never started: that is how the request log went unpruned), each has a test file of
its own that imports it, and each says its interval and its batch limit."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from psycopg_pool import AsyncConnectionPool

from queuelabs.clock import FakeClock
from uploader.budget import RequestBudget
from uploader.pacing import Limits
from uploader.publisher import Publisher
from uploader.settings import UploaderSettings
from uploader.storage import UploaderStore
from uploader.workers.claimer import Claimer
from uploader.workers.duties import uploader_duties
from uploader.workers.periodic import Duty

ROOT = Path(__file__).resolve().parent.parent
WORKERS = ROOT / "uploader" / "workers"
# The package and what runs the duties; every other module there is a duty.
PLUMBING = {"__init__", "periodic", "duties"}
SETTINGS = UploaderSettings(database_url="", allocator_addr="", upload_post_api_key="")


def the_duties() -> list[Duty]:
    """The list as the server builds it; nothing here touches the database."""
    store = UploaderStore(cast(AsyncConnectionPool, None))
    clock = FakeClock(datetime(2026, 3, 26, tzinfo=UTC))
    budget = RequestBudget(store, Limits(), clock, "w1")
    claimer = Claimer(
        store,
        cast(Publisher, None),
        budget,
        clock,
        "w1",
        max_in_flight=SETTINGS.max_in_flight,
        lease=SETTINGS.lease,
        max_lateness=SETTINGS.max_lateness,
    )
    return uploader_duties(store, clock, claimer, SETTINGS)


def worker_modules() -> set[str]:
    return {p.stem for p in WORKERS.glob("*.py") if p.stem not in PLUMBING}


def listed_modules(duties: list[Duty]) -> set[str]:
    """The module each duty's turn lives in."""
    return {duty.turn.__module__.removeprefix("uploader.workers.") for duty in duties}


def imported_by(test_file: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(test_file.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_every_worker_module_is_a_duty_in_the_list():
    assert listed_modules(the_duties()) == worker_modules()


def test_the_check_above_catches_a_duty_left_out_of_the_list():
    duties = [d for d in the_duties() if d.name != "request-log pruner"]
    assert worker_modules() - listed_modules(duties) == {"pruner"}


def test_each_duty_has_a_test_file_of_its_own_that_imports_it():
    for module in sorted(listed_modules(the_duties())):
        own = ROOT / "tests" / f"test_{module}.py"
        assert own.exists(), f"uploader/workers/{module}.py has no tests/test_{module}.py"
        assert f"uploader.workers.{module}" in imported_by(own), f"{own.name} does not import it"


def test_each_duty_has_its_interval_and_its_batch_limit():
    duties = the_duties()
    assert len({d.name for d in duties}) == len(duties)
    for duty in duties:
        assert timedelta(0) < duty.interval <= timedelta(minutes=5), duty.name
    batches = {d.name: d.batch for d in duties}
    # The duties that change rows bound how many one transaction touches; the gauge reads one
    # count per platform.
    assert batches["claimer"] == SETTINGS.max_in_flight
    assert all(batches[name] for name in ("rescuer", "request-log pruner"))
    assert batches["backlog gauge"] is None
