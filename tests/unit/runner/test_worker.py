"""The worker's build ID: cheap, stable, and different when the runner's code differs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import agent_runner
from agent_runner.worker import code_build_id

PACKAGE = Path(agent_runner.__file__).parent


def _copy_of_the_package(tmp_path: Path) -> Path:
    copy = tmp_path / "agent_runner"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_build_id_names_the_version_and_is_stable() -> None:
    first = code_build_id()
    assert first.startswith(f"agent-runner@{agent_runner.__version__}+")
    assert code_build_id() == first == code_build_id(PACKAGE)


def test_build_id_follows_the_source_not_the_location(tmp_path: Path) -> None:
    copy = _copy_of_the_package(tmp_path)
    assert code_build_id(copy) == code_build_id()
    (copy / "worker.py").write_text((copy / "worker.py").read_text() + "\n# changed\n")
    assert code_build_id(copy) != code_build_id()


def test_bytecode_caches_do_not_change_the_build_id(tmp_path: Path) -> None:
    copy = _copy_of_the_package(tmp_path)
    before = code_build_id(copy)
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "worker.cpython-313.pyc").write_bytes(b"\0" * 16)
    assert code_build_id(copy) == before


def test_backend_key_as_upstream_sends_it() -> None:
    from agent_runner import contract
    from agent_runner.config import load_config
    from agent_runner.worker import execution_deps

    def header(env: dict[str, str]) -> object:
        client: Any = execution_deps(load_config(env).config).open_backend()
        return client._metadata

    placeholder = f"Bearer {contract.LOCAL_PLACEHOLDER_API_KEY}"
    assert header({}) == (("authorization", placeholder),)
    assert header({"STIGMER_API_KEY": "k"}) == (("authorization", "Bearer k"),)
