"""Moves the contract's baseline (protos/released.binpb, a buf image of the last released
contract) forward to the committed protos, as a release does; refused when the move itself would
break a caller of the previous release.

Run `uv run python scripts/release_contract.py` on the commit being released, then commit the
new baseline with it. CI and the tests compare every change with this file
(`buf breaking --against protos/released.binpb`), whatever the clone's depth.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = Path("protos") / "released.binpb"


def buf(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("buf")
    if found is None:
        sys.exit("buf is not on PATH: it comes with the dev dependencies (uv run ...)")
    return subprocess.run([found, *args], cwd=root, capture_output=True, text=True, check=False)


def uncommitted_protos(root: Path) -> str:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "protos"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    # The baseline file itself may be the one uncommitted change (a move not yet committed).
    return "\n".join(
        line for line in status.stdout.splitlines() if not line.endswith(str(BASELINE))
    )


def release(root: Path, *, first: bool) -> str:
    """Writes the new baseline and returns what was done; exits with the reason on a refusal."""
    baseline = root / BASELINE
    changed = uncommitted_protos(root)
    if changed:
        sys.exit(f"refused: protos/ has uncommitted changes; release what is committed:\n{changed}")
    if baseline.exists():
        breaking = buf(root, "breaking", "--against", str(BASELINE))
        if breaking.returncode != 0:
            sys.exit(
                "refused: this contract breaks callers of the last release "
                f"({BASELINE}); the baseline is unchanged:\n{breaking.stdout}{breaking.stderr}"
            )
    elif not first:
        # A missing baseline is never quietly started over: that would forget the release.
        sys.exit(f"refused: {BASELINE} is missing; pass --first only for the very first release")
    written = baseline.with_name(baseline.name + ".new")
    built = buf(root, "build", "--exclude-source-info", "-o", str(written.relative_to(root)))
    if built.returncode != 0:
        written.unlink(missing_ok=True)
        sys.exit(f"buf build failed:\n{built.stdout}{built.stderr}")
    os.replace(written, baseline)
    return f"{BASELINE} now holds the contract of this commit; commit it with the release"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument(
        "--first", action="store_true", help="write the first baseline (no earlier release)"
    )
    args = parser.parse_args()
    print(release(args.root.resolve(), first=args.first))


if __name__ == "__main__":
    main()
