"""The direction of dependencies: the kernel (`queuelabs/`) imports no service, no service imports
another or the sandbox, nothing imports the composition roots (`commands/`), the migrations
import no product code, and no product module imports itself back through a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("queuelabs", "allocator", "uploader", "sandbox", "commands", "migrations")
GENERATED = ("queuelabs/allocator/v1", "queuelabs/uploader/v1")

# package -> the product packages it may import (besides itself)
ALLOWED = {
    "queuelabs": set(),
    "allocator": {"queuelabs"},
    "uploader": {"queuelabs"},
    "sandbox": {"queuelabs"},
    "commands": {"queuelabs", "allocator", "uploader", "sandbox"},
    # A migration is frozen once released: code it imported could change under it later.
    "migrations": set(),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not any(str(path.relative_to(ROOT)).startswith(g) for g in GENERATED):
                yield module_name(path), path


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in PACKAGES}


MODULES = dict(product_modules())


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_what_its_layer_may(name):
    package = name.split(".")[0]
    allowed = ALLOWED[package] | {package}
    wrong = {i for i in imports_of(MODULES[name]) if i.split(".")[0] not in allowed}
    assert not wrong, f"{name} imports {sorted(wrong)}; {package} may import only {sorted(allowed)}"


def test_the_kernel_imports_no_service():
    for name, path in MODULES.items():
        if name.startswith("queuelabs"):
            services = {i for i in imports_of(path) if not i.startswith("queuelabs")}
            assert not services, f"{name} imports {services}"


def test_no_product_module_imports_itself_back_through_a_circle():
    graph = {name: {i for i in imports_of(path) if i in MODULES} for name, path in MODULES.items()}

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            raise AssertionError(
                "import circle: " + " -> ".join([*trail[trail.index(node) :], node])
            )
        for nxt in graph.get(node, ()):
            visit(nxt, [*trail, node])

    for name in graph:
        visit(name, [])


def modules_loaded_by(modules: str) -> set[str]:
    """Every product module a fresh interpreter has loaded after importing `modules`."""
    probe = f"import sys, {modules}\nprint('\\n'.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {m for m in loaded if m.split(".")[0] in PACKAGES}


def test_starting_the_allocator_loads_no_uploader_or_sandbox_code():
    loaded = modules_loaded_by("allocator.server, allocator.calendar")
    assert {m for m in loaded if m.startswith(("uploader", "sandbox", "commands"))} == set()
    assert {m for m in loaded if m.startswith("queuelabs.uploader")} == set()


def test_starting_the_uploader_loads_no_allocator_service_or_sandbox_code():
    loaded = modules_loaded_by("uploader.server")
    assert {m for m in loaded if m.startswith(("allocator", "sandbox", "commands"))} == set()


def test_the_rule_above_would_catch_a_kernel_module_importing_a_service(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("from uploader.policies import DEFAULT_POLICIES\n")
    assert imports_of(planted) == {"uploader.policies"}
