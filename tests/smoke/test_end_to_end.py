"""A Stigmer workflow in this process drives the container's three activities end to end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from build_tools.runtime.contract_loader import Contract
from tests.smoke.conftest import RunnerFactory
from tests.smoke.helpers import host_user, run_workflow
from tests.support.fake_ollama import DEFAULT_SCRIPT, FakeOllama
from tests.support.stigmer_workflow import StigmerRunInput

# What the fake model's default script asks the agent to write.
WRITTEN_PATH = str(DEFAULT_SCRIPT[0].tool_calls[0][1]["path"])
WRITTEN_TEXT = str(DEFAULT_SCRIPT[0].tool_calls[0][1]["content"])
NON_ROOT = (1000, 1000)


@pytest.mark.parametrize("as_user", ["host", "non-root"])
def test_workflow_runs_agent_and_files_land_in_host_workspace_owned_by_user(
    as_user: str,
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    workspace: Path,
    contract: Contract,
    temporal_address: str,
    fake_ollama: FakeOllama,
) -> None:
    if as_user == "host":
        user, (uid, gid) = host_user(), (os.getuid(), os.getgid())
    else:
        if os.getuid() != 0:
            pytest.skip("chowning the workspace to another uid needs root (CI runs as root)")
        uid, gid = NON_ROOT
        os.chown(workspace, uid, gid)
        user = f"{uid}:{gid}"
    queue = contract.env_var("TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE").name
    make_runner(base_env, workspace=workspace, user=user)
    requests_before = len(fake_ollama.requests)

    result = run_workflow(
        temporal_address, StigmerRunInput(runner_task_queue=base_env[queue], prompt="write")
    )

    assert result.thread.created
    assert result.execution is not None
    assert result.execution.status == "completed", result.execution
    assert result.execution.files_written == [WRITTEN_PATH]
    assert len(fake_ollama.requests) > requests_before  # the container reached the fake model
    written = workspace / result.thread.thread_id / WRITTEN_PATH
    assert written.read_text() == WRITTEN_TEXT
    assert (written.stat().st_uid, written.stat().st_gid) == (uid, gid)
    assert (written.parent.stat().st_uid, written.parent.stat().st_gid) == (uid, gid)

    cleanup = run_workflow(
        temporal_address,
        StigmerRunInput(
            runner_task_queue=base_env[queue],
            thread_id=result.thread.thread_id,
            execute=False,
            cleanup=True,
        ),
    )
    assert not cleanup.thread.created  # the thread from the first run was still there
    assert cleanup.cleanup is not None
    assert cleanup.cleanup.removed
    assert not written.parent.exists()
