"""The package as a user installs it: the wheels (the server and queuelabs-api), built from this
tree, installed into an empty virtual environment with their dependencies at the lock's versions;
its `queuelabs` command says its version and migrates a database (the migrations ship inside the
package)."""

from __future__ import annotations

import os
import subprocess
import tomllib
import zipfile
from pathlib import Path

import psycopg
import pytest

from tests.support.databases import DatabaseFactory
from tests.support.locked import build_wheels, fresh_environment, install, locked_versions

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The server's wheel and the contract's package it depends on (a workspace member)."""
    built = build_wheels(tmp_path_factory.mktemp("dist"), "--all-packages")
    assert [w.name.split("-")[0] for w in built] == ["queuelabs", "queuelabs_api"], built
    return built


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheels: list[Path]) -> Path:
    """The `queuelabs` command of a fresh virtual environment holding only the wheels and what
    they depend on, at the lock's versions."""
    python = fresh_environment(tmp_path_factory.mktemp("wheel") / "venv")
    install(python, wheels)
    return python.parent / "queuelabs"


def test_the_installed_command_says_its_version(installed: Path) -> None:
    run = subprocess.run([installed, "--version"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert run.stdout.strip() == f"queuelabs {version}"


def test_the_installed_command_migrates_an_empty_database(
    installed: Path, databases: DatabaseFactory
) -> None:
    url = databases.url(databases.create_empty())
    head = sorted((ROOT / "migrations" / "versions").glob("0*.py"))[-1].name[:4]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run(
        [installed, "migrate", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=installed.parent,  # not this tree: what runs is the installed package
        env=env,
    )
    assert run.returncode == 0, run.stderr
    with psycopg.connect(url) as conn:
        row = conn.execute("select version_num from alembic_version").fetchone()
    assert row == (head,)


def test_the_server_wheel_carries_the_top_level_migrations_inside_the_package(
    wheels: list[Path],
) -> None:
    [server] = [w for w in wheels if w.name.startswith("queuelabs-")]
    with zipfile.ZipFile(server) as wheel:
        shipped = {
            name.removeprefix("queuelabs/migrations/"): wheel.read(name)
            for name in wheel.namelist()
            if name.startswith("queuelabs/migrations/")
        }
        assert not [n for n in wheel.namelist() if n.startswith("migrations/")]
    in_tree = {
        str(path.relative_to(ROOT / "migrations")): path.read_bytes()
        for path in (ROOT / "migrations").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "env.py" in in_tree
    assert shipped == in_tree


def test_no_wheel_carries_the_contract_baseline(wheels: list[Path]) -> None:
    # protos/released.binpb is for CI and the tests, not for anyone who installs the package.
    for built in wheels:
        with zipfile.ZipFile(built) as wheel:
            assert not [n for n in wheel.namelist() if n.endswith(".binpb")], built.name


def test_the_wheels_are_built_by_the_locked_backend(wheels: list[Path]) -> None:
    [hatchling] = locked_versions()["hatchling"]
    for built in wheels:
        with zipfile.ZipFile(built) as wheel:
            [info] = [n for n in wheel.namelist() if n.endswith(".dist-info/WHEEL")]
            assert f"Generator: hatchling {hatchling}\n" in wheel.read(info).decode(), built.name
