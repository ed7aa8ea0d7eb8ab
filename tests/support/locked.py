"""The one way a test builds wheels and installs packages: everything at uv.lock's versions (the
wheels' build backend, their dependencies, a dependency group's tools), and an install that brings
a package the lock does not pin fails the test. tests/test_locked_installs.py holds every other
test to it."""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LOCK = ROOT / "uv.lock"
# What installs packages; a test that names one outside this module goes around the lock.
INSTALLERS = {"uv", "uvx", "pip", "pip3", "pipx"}


def uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    assert found, "uv is needed (the README's test command runs the tests through it)"
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_packages() -> list[dict[str, object]]:
    packages: list[dict[str, object]] = tomllib.loads(LOCK.read_text())["package"]
    return packages


def source_kind(package: dict[str, object]) -> str:
    """`registry`, or `editable` for a workspace member (built from this tree), or another."""
    source = package.get("source")
    return next(iter(source), "") if isinstance(source, dict) else ""


def locked_versions() -> dict[str, set[str]]:
    """Each package the lock pins from a registry, with the versions it pins."""
    versions: dict[str, set[str]] = {}
    for package in lock_packages():
        if source_kind(package) == "registry":
            versions.setdefault(canonical(str(package["name"])), set()).add(str(package["version"]))
    return versions


def built_here() -> set[str]:
    """The lock's workspace members: the wheels the tests build from this tree."""
    return {canonical(str(p["name"])) for p in lock_packages() if source_kind(p) == "editable"}


def export(where: Path, name: str, *selection: str) -> Path:
    """Requirements at the lock's versions (`uv export` of `selection`), written to a file."""
    target = where / f"{name}.txt"
    subprocess.run(
        [
            uv(),
            "export",
            "--frozen",  # the lock as committed, never re-resolved here
            "--no-hashes",
            "--no-emit-workspace",  # our own packages come as wheels built from this tree
            "--no-header",
            "--no-annotate",
            "--quiet",
            *selection,
            "--output-file",
            str(target),
        ],
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    return target


def constraints(where: Path) -> Path:
    """Every package of the lock pinned to its version, whatever group it belongs to."""
    return export(where, "constraints", "--all-groups")


def build_wheels(out: Path, *selection: str) -> list[Path]:
    """Wheels of this tree's packages (`uv build` arguments such as `--all-packages`), built with
    the lock's build backend (the `build` group) rather than whatever is newest."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            uv(),
            "build",
            *selection,
            "--wheel",
            "--build-constraints",
            str(constraints(out)),
            "--out-dir",
            str(out),
            "-q",
        ],
        check=True,
        timeout=300,
        cwd=ROOT,
    )
    return sorted(out.glob("*.whl"))


def fresh_environment(where: Path) -> Path:
    """An empty virtual environment (no pip, nothing installed); returns its python."""
    subprocess.run([uv(), "venv", "-q", "--python", sys.executable, str(where)], check=True)
    return where / "bin" / "python"


def install(python: Path, wheels: Iterable[Path], groups: Sequence[str] = ()) -> None:
    """`wheels` and the tools of the lock's dependency `groups` into `python`'s environment, each
    package at its locked version; fails if the environment then holds anything the lock does
    not pin."""
    where = python.parent.parent
    requirements = [
        arg for group in groups for arg in ("-r", str(export(where, group, "--only-group", group)))
    ]
    subprocess.run(
        [
            uv(),
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "--constraints",
            str(constraints(where)),
            *requirements,
            *map(str, wheels),
        ],
        check=True,
        timeout=600,
    )
    stray = unlocked(python)
    assert not stray, f"installed but not pinned by uv.lock (add them to a group): {stray}"


def unlocked(python: Path) -> list[str]:
    """What `python`'s environment holds that is neither built here nor at a locked version."""
    listed = subprocess.run(
        [uv(), "pip", "list", "--python", str(python), "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    locked, ours = locked_versions(), built_here()
    return sorted(
        f"{p['name']}=={p['version']}"
        for p in json.loads(listed.stdout)
        if canonical(p["name"]) not in ours
        and p["version"] not in locked.get(canonical(p["name"]), set())
    )


def installs_around_the_lock(source: str) -> list[int]:
    """The lines of `source` that run an installer themselves: an argument list starting with
    uv, uvx or pip (or `-m pip`), or a shell command doing so."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.List | ast.Tuple) and node.elts:
            words = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if _names_an_installer(node.elts[0]) or _runs_pip_module(words):
                found.append(node.lineno)
        elif isinstance(node, ast.Call) and _runs_a_process(node.func):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    first = arg.value.split(maxsplit=1)[:1]
                    if first and Path(first[0]).name in INSTALLERS:
                        found.append(node.lineno)
    return sorted(found)


def _names_an_installer(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return Path(node.value).name in INSTALLERS
    if isinstance(node, ast.Name):
        return node.id in INSTALLERS
    return isinstance(node, ast.Attribute) and node.attr in INSTALLERS


def _runs_pip_module(words: Sequence[object]) -> bool:
    return any(a == "-m" and b in ("pip", "uv") for a, b in itertools.pairwise(words))


def _runs_a_process(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in {"run", "Popen", "call", "check_call", "check_output", "system", "getoutput"}
