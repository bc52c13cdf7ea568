"""Faults around one execution: a backend that restarts, a workspace that fills up.

The fleet fault tests (tests/smoke/test_faults.py) show these against the image; here the
backend, the clock, the sleep and the workspace check are doubles passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from agent_runner import agent as real_agent
from agent_runner.config import load_config
from agent_runner.execution import (
    FINAL_REPORT_TIMEOUT_SECONDS,
    ExecutionDeps,
    ProgressReporter,
    execute,
    probe_workspace,
)
from agent_runner.wire.agentexecution_pb2 import (
    AgentExecution,
    AgentExecutionStatus,
    ExecutionPhase,
)
from langchain_core.messages import AIMessage

from tests.unit.runner.scripted_model import call, scripted


class Unavailable(Exception):
    """Shaped like agent_runner.backend.BackendError for a code worth retrying."""

    transient = True


class Refused(Exception):
    transient = False


@dataclass
class FlakyBackend:
    """Fails the first `failures` calls with `error`, then records."""

    failures: int = 0
    error: type[Exception] = Unavailable
    calls: int = 0
    updates: list[AgentExecutionStatus] = field(default_factory=list)

    async def update_status(self, execution_id: str, status: AgentExecutionStatus) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error("Stigmer backend at 127.0.0.1:1 failed updateStatus: UNAVAILABLE")
        copy = AgentExecutionStatus()
        copy.CopyFrom(status)
        self.updates.append(copy)


@dataclass
class FakeTime:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _final(backend: FlakyBackend, clock: FakeTime) -> bool:
    reporter = ProgressReporter(backend, "aex_1", 1.0, clock.monotonic, sleep=clock.sleep)
    status = AgentExecutionStatus(phase=ExecutionPhase.EXECUTION_COMPLETED)
    return asyncio.run(reporter.final(status))


def test_the_final_status_is_retried_until_a_restarting_backend_takes_it() -> None:
    backend, clock = FlakyBackend(failures=5), FakeTime()
    assert _final(backend, clock) is True
    assert backend.calls == 6
    assert [u.phase for u in backend.updates] == [ExecutionPhase.EXECUTION_COMPLETED]
    assert clock.now <= FINAL_REPORT_TIMEOUT_SECONDS


def test_the_final_status_is_given_up_after_the_window() -> None:
    backend, clock = FlakyBackend(failures=10_000), FakeTime()
    assert _final(backend, clock) is False
    assert backend.updates == []
    assert clock.now == pytest.approx(FINAL_REPORT_TIMEOUT_SECONDS)


def test_a_refusing_backend_is_not_asked_again() -> None:
    backend, clock = FlakyBackend(failures=1, error=Refused), FakeTime()
    assert _final(backend, clock) is False
    assert backend.calls == 1
    assert clock.slept == []


def test_the_workspace_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    probe_workspace(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_workspace_probe_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(OSError, match="gone"):
        probe_workspace(missing)


@dataclass
class WorkspaceFills:
    """The workspace check: passes `passes` times, then fails as a full volume does."""

    passes: int
    checked: list[Path] = field(default_factory=list)

    def __call__(self, root: Path) -> None:
        self.checked.append(root)
        if len(self.checked) > self.passes:
            path = str(root / ".agent-runner-probe-x")
            raise OSError(errno.ENOSPC, "No space left on device", path)


def _execute(tmp_path: Path, check: WorkspaceFills) -> tuple[AgentExecutionStatus, FlakyBackend]:
    backend = FlakyBackend()

    @contextlib.asynccontextmanager
    async def open_backend() -> AsyncIterator[FlakyBackend]:
        yield backend

    @dataclass
    class Resolved:
        instructions: str = "You write files when asked to."
        skills: tuple[Any, ...] = ()
        env: dict[str, str] = field(default_factory=dict)

    async def resolve(_backend: Any, _execution: AgentExecution) -> Resolved:
        return Resolved()

    model = scripted(call("write_file", path="/big.txt", content="x" * 100), AIMessage("Done."))

    def load_agent() -> types.ModuleType:
        module = types.ModuleType("scripted_agent")
        module.__dict__.update(
            ModelSettings=real_agent.ModelSettings,
            build_model=lambda _settings: model,
            build_agent=real_agent.build_agent,
            RECURSION_LIMIT=real_agent.RECURSION_LIMIT,
        )
        return module

    execution = AgentExecution()
    execution.metadata.id = "aex_1"
    execution.spec.session_id = "ses_1"
    execution.spec.message = "Write big.txt"
    config = load_config({"SANDBOX_ROOT_DIR": str(tmp_path)}).config
    deps = ExecutionDeps(open_backend, resolve, load_agent, lambda: 0.0, check_workspace=check)
    return asyncio.run(execute(execution, "thread-ses_1", config, deps)), backend


def test_a_workspace_full_before_the_run_fails_naming_it(tmp_path: Path) -> None:
    status, backend = _execute(tmp_path, WorkspaceFills(passes=0))
    assert status.phase == ExecutionPhase.EXECUTION_FAILED
    assert status.error.startswith(f"checking that the workspace {tmp_path.resolve()} is writable")
    assert "No space left on device" in status.error
    assert str(tmp_path.resolve() / ".agent-runner-probe-x") in status.error
    assert backend.updates[-1].error == status.error


def test_a_workspace_filled_by_the_agent_fails_the_execution_naming_it(tmp_path: Path) -> None:
    check = WorkspaceFills(passes=1)
    status, backend = _execute(tmp_path, check)
    assert len(check.checked) == 2  # before and after the agent ran
    assert (tmp_path / "big.txt").is_file()  # the agent did run
    assert status.phase == ExecutionPhase.EXECUTION_FAILED
    assert status.error.startswith(f"checking the workspace {tmp_path.resolve()} after the agent")
    assert "No space left on device" in status.error
    assert backend.updates[-1].phase == ExecutionPhase.EXECUTION_FAILED


def test_backend_errors_say_whether_a_retry_may_help() -> None:
    import grpc
    from agent_runner.backend import BackendError

    def error(code: grpc.StatusCode) -> BackendError:
        return BackendError(
            "127.0.0.1:7234", "AgentExecutionCommandController.updateStatus", code, ""
        )

    assert error(grpc.StatusCode.UNAVAILABLE).transient is True
    assert error(grpc.StatusCode.NOT_FOUND).transient is False
