"""The real runner's start path and warm start, seen through Python's own import profile.

`PYTHONPROFILEIMPORTTIME=1` makes the interpreter print one line per module as its import
finishes, on the stderr the runner logs to, in order with the log lines: what is above the
ready line was imported before the worker announced that it polls.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.integration.runner.conftest import RunnerFactory, run_execution
from tests.support.runner_process import RunnerProcess

pytestmark = pytest.mark.integration

_IMPORT_LINE = re.compile(r"^import time:\s+(?:\d+|self \[us\])\s+\|\s+\S+\s+\|\s+(?P<name>\S+)")
READY = '"event":"ready"'
# Not needed to poll: the agent stack, the provider SDKs, gRPC and the backend client, and
# the wire types only an execution's chain uses.
NOT_ON_THE_POLLER_PATH = (
    "graphton",
    "deepagents",
    "langchain",
    "langchain_core",
    "langchain_anthropic",
    "langchain_openai",
    "langchain_ollama",
    "langgraph",
    "langsmith",
    "anthropic",
    "openai",
    "ollama",
    "mcp",
    # Not the bare package names: temporalio's optional imports of them, refused while
    # hidden, still print a profile line; a real import loads these submodules.
    "grpc._cython",
    "pydantic._internal",
    "pydantic_core._pydantic_core",
    "agent_runner.agent",
    "agent_runner.backend",
    "agent_runner.skills",
    "agent_runner.wire.skill_pb2",
    "agent_runner.wire.session_pb2",
    "agent_runner.wire.agent_pb2",
    "agent_runner.wire.agentinstance_pb2",
    "agent_runner.wire.environment_pb2",
)


# What the warm-up loads, but for langchain_core's few lazily imported modules.
FRAMEWORK = frozenset(
    {"graphton", "deepagents", "langgraph", "langchain", "langchain_ollama", "anthropic"}
    | {"openai", "ollama", "mcp", "grpc", "httpx", "agent_runner"}
)


def _imports(lines: list[str]) -> list[str]:
    return [m["name"] for m in map(_IMPORT_LINE.match, lines) if m]


def _forbidden(names: list[str]) -> list[str]:
    return sorted(
        {n for n in names for f in NOT_ON_THE_POLLER_PATH if n == f or n.startswith(f + ".")}
    )


def _split_at(runner: RunnerProcess, text: str) -> tuple[list[str], list[str]]:
    lines = runner.output().splitlines()
    at = next(i for i, line in enumerate(lines) if text in line)
    return lines[:at], lines[at + 1 :]


def _profiled(env: dict[str, str], **extra: str) -> dict[str, str]:
    return {**env, "PYTHONPROFILEIMPORTTIME": "1", **extra}


def test_the_poller_path_imports_nothing_only_an_execution_needs(
    runner_env: dict[str, str], make_runner: RunnerFactory
) -> None:
    runner = make_runner(_profiled(runner_env, AGENT_RUNNER_WARMUP="0"))
    runner.wait_for_output(READY)
    before, _ = _split_at(runner, READY)
    names = _imports(before)
    # The profile is there: the worker's own modules were imported before ready.
    assert {"temporalio.worker", "agent_runner.worker", "agent_runner.activities"} <= set(names)
    assert _forbidden(names) == []

    runner.signal()
    assert runner.wait(10) == 0, runner.output()
    assert "warm-up" not in runner.output()


def test_warm_up_starts_after_ready_and_the_execution_imports_nothing_more(
    runner_env: dict[str, str], make_runner: RunnerFactory
) -> None:
    runner = make_runner(_profiled(runner_env))
    runner.wait_for_output("warm-up finished", timeout=120)
    before, after = _split_at(runner, READY)
    assert _forbidden(_imports(before)) == []
    assert not any("warm-up" in line for line in before)
    warmed = _imports(after)
    # (importlib.import_module prints no line for the module it is called for, only for the
    # imports below it: agent_runner.agent and .backend show through what they import.)
    assert {
        "graphton",
        "langchain_ollama",
        "grpc._cython.cygrpc",
        "agent_runner.wire.session_pb2",
    } <= set(warmed)
    finished = runner.find_event(msg="warm-up finished")
    assert finished is not None
    assert finished["seconds"] > 0

    done = run_execution(runner_env)
    assert done.phase == "EXECUTION_COMPLETED", runner.output()
    _, during = _split_at(runner, "execution started")
    # The framework was loaded by the warm-up; what is left (measured: four langchain_core
    # modules the first event stream imports) costs milliseconds.
    late = _imports(during)
    assert [n for n in late if n.split(".")[0] in FRAMEWORK] == [], late
    assert len(late) < 20, late


def test_a_stop_during_warm_up_is_not_delayed(
    runner_env: dict[str, str], make_runner: RunnerFactory
) -> None:
    runner = make_runner(runner_env)
    runner.wait_for_output("warm-up started")
    sent = runner.signal()
    code = runner.wait(10)
    elapsed = time.monotonic() - sent
    assert code == 0, runner.output()
    # Exited while the warm-up thread was still importing, without waiting for it.
    assert "warm-up finished" not in runner.output()
    assert elapsed < 1.0, f"shutdown during warm-up took {elapsed:.3f}s"
