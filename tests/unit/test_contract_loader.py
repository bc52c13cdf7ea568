"""Where the runtime contract and agent-runner's version come from: checkout, else the wheel."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from build_tools import project
from build_tools.errors import ConfigError
from build_tools.project import (
    CONTRACT_FILE,
    PACKAGED_CONTRACT,
    PACKAGED_RUNNER_PYPROJECT,
    RUNNER_PYPROJECT,
    find_project_root,
    require_checkout,
    runner_version,
)
from build_tools.runtime.contract_loader import load_contract

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _keep_the_loaded_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    # The loader caches one module; these tests load stand-ins, then the real one returns.
    monkeypatch.delitem(sys.modules, "_agent_runner_contract", raising=False)


def _checkout(root: Path, marker: str, version: str = "1.2.3") -> Path:
    (root / CONTRACT_FILE).parent.mkdir(parents=True)
    (root / CONTRACT_FILE).write_text(f"WHERE = {marker!r}\n", encoding="utf-8")
    (root / RUNNER_PYPROJECT).write_text(f'[project]\nversion = "{version}"\n', encoding="utf-8")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    return root


def _packaged(tmp_path: Path) -> tuple[Path, Path]:
    contract = tmp_path / "wheel" / "contract.py"
    contract.parent.mkdir()
    contract.write_text("WHERE = 'wheel'\n", encoding="utf-8")
    pyproject = tmp_path / "wheel" / "agent-runner-pyproject.toml"
    pyproject.write_text('[project]\nversion = "9.9.9"\n', encoding="utf-8")
    return contract, pyproject


def test_the_checkout_wins_over_the_wheel_copy(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "checkout", "checkout")
    contract, pyproject = _packaged(tmp_path)
    assert load_contract(root, contract).WHERE == "checkout"
    assert runner_version(root, pyproject) == "1.2.3"


def test_without_a_checkout_the_wheel_copy_serves(tmp_path: Path) -> None:
    contract, pyproject = _packaged(tmp_path)
    site_packages = tmp_path / "site-packages"
    assert load_contract(site_packages, contract).WHERE == "wheel"
    assert runner_version(site_packages, pyproject) == "9.9.9"


def test_with_neither_the_error_says_run_it_from_a_checkout(tmp_path: Path) -> None:
    nowhere = tmp_path / "none"
    with pytest.raises(ConfigError) as contract_error:
        load_contract(tmp_path, nowhere)
    assert "Run this from an agent-runner checkout, or reinstall" in str(contract_error.value)
    assert str(tmp_path / CONTRACT_FILE) in str(contract_error.value)
    with pytest.raises(ConfigError, match=r"checkout, or name the image \(--version X"):
        runner_version(tmp_path, nowhere)


def test_project_root_is_the_package_checkout_then_the_working_directory(tmp_path: Path) -> None:
    installed = tmp_path / "site-packages"
    installed.mkdir()
    checkout = _checkout(tmp_path / "checkout", "checkout")
    (checkout / "docs").mkdir()
    assert find_project_root(checkout, tmp_path) == checkout  # editable install
    assert find_project_root(installed, checkout / "docs") == checkout  # wheel, cwd in a checkout
    assert find_project_root(installed, tmp_path) == installed  # wheel, no checkout anywhere


def test_commands_that_need_the_checkout_itself_say_so(tmp_path: Path) -> None:
    require_checkout(_checkout(tmp_path / "checkout", "checkout"), "Writing compose")
    with pytest.raises(ConfigError) as error:
        require_checkout(tmp_path, "Writing compose")
    assert str(error.value) == (
        f"Writing compose failed because {tmp_path} is not an agent-runner checkout. "
        "Run this from an agent-runner checkout."
    )


def test_the_wheel_carries_its_copies_where_the_loader_looks() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    package_parent = Path(project.__file__).resolve().parents[1]
    assert {source: str(package_parent / target) for source, target in included.items()} == {
        str(CONTRACT_FILE): str(PACKAGED_CONTRACT),
        str(RUNNER_PYPROJECT): str(PACKAGED_RUNNER_PYPROJECT),
    }
    assert all((PROJECT_ROOT / source).is_file() for source in included)
