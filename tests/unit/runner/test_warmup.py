"""Warm start: what the background warm-up loads and builds, and that it never raises."""

from __future__ import annotations

import importlib
import logging
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from agent_runner import agent as real_agent
from agent_runner.config import Config, load_config
from agent_runner.execution import DEFAULT_INSTRUCTIONS, load_agent_module
from agent_runner.lean_imports import hidden
from agent_runner.warmup import Warmup


def _config(tmp_path: Path, **env: str) -> Config:
    return load_config({"SANDBOX_ROOT_DIR": str(tmp_path), **env}).config


def _recording_agent(calls: list[tuple[str, Any]]) -> types.ModuleType:
    module = types.ModuleType("recording_agent")

    def build_model(settings: real_agent.ModelSettings) -> str:
        calls.append(("build_model", settings))
        return "model"

    def build_agent(model: str, prompt: str, workspace: Path, env: dict[str, str]) -> str:
        calls.append(("build_agent", (model, prompt, workspace, env)))
        return "graph"

    module.__dict__.update(
        ModelSettings=real_agent.ModelSettings, build_model=build_model, build_agent=build_agent
    )
    return module


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "agent_runner.warmup"]


def test_loads_the_agent_and_backend_and_builds_one_agent_for_the_configured_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[str, Any]] = []
    config = _config(tmp_path, STIGMER_LLM_MODEL="llama3", OLLAMA_BASE_URL="http://ollama:11434")
    clock = iter([10.0, 12.5])

    def load_agent() -> types.ModuleType:
        calls.append(("load_agent", None))
        return _recording_agent(calls)

    def load_others(names: tuple[str, ...]) -> None:
        calls.append(("load_others", names))

    caplog.set_level(logging.INFO, logger="agent_runner.warmup")

    def freeze_heap() -> None:
        calls.append(("freeze_heap", None))

    Warmup(config, load_agent, load_others, freeze_heap, monotonic=lambda: next(clock)).run()

    names = [name for name, _ in calls]
    assert names == ["load_agent", "load_others", "build_model", "build_agent", "freeze_heap"]
    assert calls[1][1] == ("agent_runner.backend", "agent_runner.skills")
    settings = calls[2][1]
    assert (settings.provider, settings.model, settings.ollama_base_url) == (
        "ollama",
        "llama3",
        "http://ollama:11434",
    )
    assert calls[3][1] == ("model", DEFAULT_INSTRUCTIONS, tmp_path.resolve(), {})
    assert _messages(caplog) == ["warm-up started", "warm-up finished"]
    finished = next(r for r in caplog.records if r.getMessage() == "warm-up finished")
    assert finished.__dict__["seconds"] == 2.5


def test_a_failure_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def load_agent() -> types.ModuleType:
        raise ImportError("No module named 'graphton'\nsecond line")

    caplog.set_level(logging.INFO, logger="agent_runner.warmup")
    Warmup(_config(tmp_path), load_agent).run()

    assert _messages(caplog) == [
        "warm-up started",
        "warm-up failed; the first execution loads the agent itself",
    ]
    failed = caplog.records[-1]
    assert failed.levelno == logging.WARNING
    assert failed.__dict__["error"] == "ImportError: No module named 'graphton'"


def test_the_real_agent_builds_without_a_model_request_or_a_workspace_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: a model request would fail the build and log a warning.
    config = _config(tmp_path, OLLAMA_BASE_URL="http://127.0.0.1:1")
    caplog.set_level(logging.INFO, logger="agent_runner.warmup")
    # (Freezing the heap of the test process would outlive this test.)
    Warmup(config, load_agent_module, freeze_heap=lambda: None).run()
    assert _messages(caplog) == ["warm-up started", "warm-up finished"]
    assert list(tmp_path.iterdir()) == []
    assert {"agent_runner.backend", "agent_runner.skills"} <= set(sys.modules)


def test_runs_in_a_daemon_thread(tmp_path: Path) -> None:
    loaded: list[str] = []

    def load_agent() -> types.ModuleType:
        loaded.append("agent")
        return _recording_agent([])

    thread = Warmup(_config(tmp_path), load_agent, lambda _names: None, lambda: None).start()
    thread.join(10)
    assert thread.daemon
    assert thread.name == "agent-runner-warmup"
    assert loaded == ["agent"]


def test_warmup_is_on_unless_turned_off(tmp_path: Path) -> None:
    assert _config(tmp_path).warmup == "1"
    assert _config(tmp_path, AGENT_RUNNER_WARMUP="0").warmup == "0"
    with pytest.raises(Exception, match="AGENT_RUNNER_WARMUP='off' is invalid"):
        _config(tmp_path, AGENT_RUNNER_WARMUP="off")


def test_hidden_modules_fail_to_import_inside_and_import_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hidden_probe_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "hidden_probe_module", raising=False)
    with hidden(("hidden_probe_module",)), pytest.raises(ImportError):
        importlib.import_module("hidden_probe_module")
    assert importlib.import_module("hidden_probe_module").VALUE == 1
    monkeypatch.delitem(sys.modules, "hidden_probe_module")


def test_a_module_imported_already_stays_importable() -> None:
    with hidden(("json",)):
        import json

    assert json.dumps(1) == "1"
    assert sys.modules["json"] is json
