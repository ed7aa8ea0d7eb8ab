"""Every package a test installs is pinned by uv.lock: tests install only through
tests/support/locked.py, which installs the lock's versions and fails on anything else, and the
wheels they build use the lock's build backend."""

from __future__ import annotations

import base64
import hashlib
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.locked import (
    canonical,
    fresh_environment,
    install,
    installs_around_the_lock,
    lock_packages,
    locked_versions,
)

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
THE_ONE_WAY = TESTS / "support" / "locked.py"


def test_no_test_runs_an_installer_but_through_the_lock():
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted(TESTS.rglob("*.py"))
        if path != THE_ONE_WAY and (lines := installs_around_the_lock(path.read_text()))
    }
    assert not found, f"install through tests/support/locked.py instead: {found}"


@pytest.mark.parametrize(
    "planted",
    [
        'subprocess.run([uv, "pip", "install", "-q", "--python", python, "mypy"])',
        'subprocess.run(["uvx", "ruff", "check"])',
        'subprocess.run([sys.executable, "-m", "pip", "install", "types-grpcio"])',
        'subprocess.run(("pip", "install", "mypy"))',
        'subprocess.run([tools.uv, "run", "--with", "types-grpcio", "mypy"])',
        'os.system("uv pip install types-grpcio")',
        'subprocess.check_call("pip install mypy", shell=True)',
    ],
)
def test_the_rule_above_would_catch_an_install_planted_in_a_test(planted):
    assert installs_around_the_lock(f"import os, subprocess, sys\n{planted}\n") == [2]


def test_what_tests_already_do_is_not_taken_for_an_install():
    harmless = (
        'subprocess.run([buf, "breaking", "--against", "protos/released.binpb"])\n'
        'subprocess.run(["git", "add", "."])\n'
        'assert re.search(r"pip install --no-cache-dir uv==", dockerfile)\n'
    )
    assert installs_around_the_lock(harmless) == []


def a_wheel(where: Path, name: str, version: str) -> Path:
    """A wheel with nothing in it but its metadata, made here: no registry is asked for it."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = where / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_installing_a_package_the_lock_does_not_pin_fails(tmp_path):
    assert "stray-package" not in locked_versions()
    python = fresh_environment(tmp_path / "venv")
    with pytest.raises(AssertionError, match=r"not pinned by uv\.lock.*stray-package==1\.0"):
        install(python, [a_wheel(tmp_path, "stray_package", "1.0")])


def test_the_build_backend_of_every_wheel_is_locked():
    locked = locked_versions()
    build_group = next(p for p in lock_packages() if p["name"] == "queuelabs")["dev-dependencies"]
    assert isinstance(build_group, dict)
    grouped = {canonical(d["name"]) for d in build_group["build"]}
    for project in (ROOT / "pyproject.toml", ROOT / "protos" / "python" / "pyproject.toml"):
        for requirement in tomllib.loads(project.read_text())["build-system"]["requires"]:
            name = canonical(Requirement(requirement).name)
            assert name in grouped, f"{project}: {name} is not in the lock's build group"
            assert name in locked
