"""The sandbox's own rules: faults are data, named exactly, and a wrong name is refused."""

from __future__ import annotations

import httpx
import pytest

from sandbox.faults import FAULTS, Answer, Before, Scripted
from sandbox.server import start_sandbox


def test_every_fault_name_parses_and_unknown_ones_do_not():
    for name in FAULTS:
        assert Scripted.parse(name).fault is FAULTS[name]
    assert Scripted.parse("429:7").argument == "7"
    with pytest.raises(ValueError, match="unknown fault 'boom'"):
        Scripted.parse("boom")
    with pytest.raises(ValueError, match="'soon' is not a number"):
        Scripted.parse("slow:soon")


def test_refusals_publish_nothing_and_the_after_faults_publish_first():
    for name, fault in FAULTS.items():
        if fault.before is not Before.TAKE:
            assert fault.answer is Answer.RESULT, name  # nothing happens after a refusal
    assert FAULTS["504_after"].before is Before.TAKE
    assert FAULTS["504_before"].status == 504


async def test_the_control_endpoint_queues_known_faults_and_refuses_unknown_ones():
    sandbox = await start_sandbox("127.0.0.1", 0, "key")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.port}") as http:
            ok = await http.post(
                "/_sandbox/faults", json={"platform": "tiktok", "faults": ["504_after", "429:2"]}
            )
            assert ok.json() == {"queued": ["504_after", "429:2"]}
            bad = await http.post("/_sandbox/faults", json={"platform": "tiktok", "faults": ["x"]})
            assert bad.status_code == 400
            assert "unknown fault 'x'" in bad.json()["error"]
    finally:
        await sandbox.stop()
    assert [s.name for s in sandbox.state.faults["tiktok"]] == ["504_after", "429:2"]
