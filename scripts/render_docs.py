"""Writes the parts of the docs that the code defines (the retry policies per platform) between
their markers, so the text cannot drift from the data.

Run `uv run python scripts/render_docs.py` after changing `uploader/policies.py`; with `--check`
it only reports whether the committed text is stale (exit 1). tests/test_docs.py runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file, the product packages are not on the path

from queuelabs.platforms import Platform  # noqa: E402
from uploader.policies import DEFAULT_POLICIES, RetryPolicy  # noqa: E402

# Names as the platforms write them; any other is capitalized.
SPELLED = {
    Platform.TIKTOK: "TikTok",
    Platform.YOUTUBE: "YouTube",
    Platform.LINKEDIN: "LinkedIn",
    Platform.X: "X",
}


def seconds(value: float) -> str:
    return f"{value:g} s"


def retry_policies() -> str:
    """The policy table: one row per distinct policy, its platforms in the table's order."""
    rows: dict[RetryPolicy, list[Platform]] = {}
    for platform, policy in DEFAULT_POLICIES.items():
        rows.setdefault(policy, []).append(platform)
    longest = max(len(policy.retry_delays) for policy in rows)
    steps = ", ".join(str(n) for n in range(1, longest + 1))
    lines = [
        f"| platform | waits before retries {steps} | async mode | read timeout "
        "| when retries run out |",
        "|---|---|---|---|---|",
    ]
    for policy, platforms in rows.items():
        names = ", ".join(SPELLED.get(p, p.value.capitalize()) for p in platforms)
        waits = ", ".join(seconds(d) for d in policy.retry_delays) or "none"
        lines.append(
            f"| {names} | {waits} | {'yes' if policy.async_upload else 'no'} "
            f"| {seconds(policy.read_timeout)} | {policy.when_exhausted.value} |"
        )
    return "\n".join(lines) + "\n"


# block name -> (the file it lives in, what writes it)
BLOCKS: dict[str, tuple[Path, Callable[[], str]]] = {
    "retry-policies": (ROOT / "docs" / "how-it-works.md", retry_policies),
}


def block_pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- begin {re.escape(name)}: [^>]*-->\n)(.*?)(<!-- end {re.escape(name)} -->)",
        re.DOTALL,
    )


def rendered(name: str) -> tuple[str, str]:
    """The file's text as committed, and as it should read with the block written afresh."""
    path, render = BLOCKS[name]
    text = path.read_text()
    found = block_pattern(name).search(text)
    if found is None:
        raise SystemExit(f"{path.relative_to(ROOT)} lost the markers of its {name} block")
    fresh = text[: found.start(2)] + render() + text[found.end(2) :]
    return text, fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale text (exit 1)")
    args = parser.parse_args()
    stale = []
    for name, (path, _) in BLOCKS.items():
        text, fresh = rendered(name)
        if text != fresh:
            stale.append(f"{path.relative_to(ROOT)} ({name})")
            if not args.check:
                path.write_text(fresh)
    if stale and args.check:
        print("stale, run `uv run python scripts/render_docs.py`: " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
