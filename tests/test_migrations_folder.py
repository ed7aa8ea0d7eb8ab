"""Where `queuelabs migrate` finds Alembic's scripts: the top-level `migrations/` in a checkout,
the copy inside the package in an installed wheel (tests/test_wheel.py migrates from one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from queuelabs.database import migrations_folder

ROOT = Path(__file__).resolve().parent.parent


def scripts_in(folder: Path) -> Path:
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text("")
    return folder


def test_a_checkout_migrates_from_the_top_level_folder():
    assert migrations_folder() == ROOT / "migrations"
    assert not (ROOT / "queuelabs" / "migrations" / "env.py").exists()


def test_an_installed_package_migrates_from_its_own_copy(tmp_path):
    site = tmp_path / "site-packages"
    packaged = scripts_in(site / "queuelabs" / "migrations")
    # Some other distribution's top-level `migrations` beside ours is not ours to run.
    scripts_in(site / "migrations")
    assert migrations_folder(site / "queuelabs") == packaged


def test_a_leftover_package_folder_without_scripts_is_passed_over(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "queuelabs" / "migrations" / "__pycache__").mkdir(parents=True)
    top_level = scripts_in(checkout / "migrations")
    assert migrations_folder(checkout / "queuelabs") == top_level


def test_no_scripts_anywhere_names_both_places_looked_in(tmp_path):
    (tmp_path / "queuelabs").mkdir()
    with pytest.raises(FileNotFoundError) as refused:
        migrations_folder(tmp_path / "queuelabs")
    assert str(tmp_path / "queuelabs" / "migrations") in str(refused.value)
    assert str(tmp_path / "migrations") in str(refused.value)
