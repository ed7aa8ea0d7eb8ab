"""Regenerates the Python code and type stubs (mypy-protobuf: messages, gRPC stubs and
servicers) under queuelabs/ from the .proto files in protos/.

Run `uv run python scripts/codegen.py`; with `--check` it only reports whether the committed
output is stale (exit 1), which is what CI runs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def generate(out: Path) -> list[Path]:
    """Runs protoc over every .proto file into `out`; returns the generated files, relative."""
    well_known = resources.files("grpc_tools") / "_proto"
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    plugins = Path(sys.executable).parent  # mypy-protobuf's protoc plugins, beside python
    args = [
        "protoc",
        f"--proto_path={PROTOS}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--mypy_out=quiet:{out}",  # typed messages (.pyi)
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out=quiet:{out}",  # typed stubs and servicers (_grpc.pyi)
        *sources,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    generated = [p for p in out.rglob("*") if p.is_file()]
    package_dirs = {d for p in generated for d in p.relative_to(out).parents if d != Path(".")}
    for package_dir in package_dirs - {Path("queuelabs")}:  # queuelabs/ itself is hand-written
        init = out / package_dir / "__init__.py"
        if not init.exists():
            init.write_text("")
            generated.append(init)
    return sorted(p.relative_to(out) for p in generated)


def committed_files() -> list[Path]:
    """The generated files now in the tree (the hand-written queuelabs/*.py are not among them)."""
    found = []
    for version_dir in (ROOT / "queuelabs").glob("*/v[0-9]*"):  # not migrations/versions
        found += [p.relative_to(ROOT) for p in version_dir.rglob("*") if p.is_file()]
        found += [p.relative_to(ROOT) for p in [version_dir.parent / "__init__.py"] if p.exists()]
    return sorted(p for p in found if "__pycache__" not in p.parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fresh = generate(out)
        if check:
            stale = [str(p) for p in fresh if not (ROOT / p).exists()]
            stale += [
                str(p)
                for p in fresh
                if (ROOT / p).exists() and not filecmp.cmp(out / p, ROOT / p, shallow=False)
            ]
            stale += [str(p) for p in committed_files() if p not in fresh]
            if stale:
                sys.exit(
                    "generated code is stale; run `uv run python scripts/codegen.py`:\n  "
                    + "\n  ".join(sorted(set(stale)))
                )
            print(f"generated code is up to date ({len(fresh)} files)")
            return
        for old in committed_files():
            (ROOT / old).unlink()
        for rel in fresh:
            (ROOT / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / rel, ROOT / rel)
        print(f"wrote {len(fresh)} files under queuelabs/")


if __name__ == "__main__":
    main()
