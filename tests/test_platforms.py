"""Every list of platforms agrees: the proto's enum, the domain's and the database's CHECK
constraints (with the retry policies, tests/test_policies.py: the four places a new platform is
added)."""

from __future__ import annotations

import re

import pytest

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.platforms import Platform


def test_the_proto_names_exactly_the_domains_platforms():
    names = pb.Platform.DESCRIPTOR.values_by_name
    in_proto = {name.removeprefix("PLATFORM_") for name in names} - {"UNSPECIFIED"}
    assert in_proto == {p.name for p in Platform}


@pytest.mark.parametrize("table", ["schedules", "contents"])
def test_the_database_accepts_exactly_the_domains_platforms(db, table):
    definition = db.execute(
        "select pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = %s::regclass and conname = %s",
        (table, f"{table}_platform_check"),
    ).fetchone()[0]
    assert set(re.findall(r"'(\w+)'::text", definition)) == {p.value for p in Platform}
