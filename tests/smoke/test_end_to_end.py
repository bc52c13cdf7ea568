"""The Go-workflow double drives the container's activities end to end, as Stigmer does."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from build_tools.runtime.contract_loader import Contract
from tests.smoke.conftest import RunnerFactory
from tests.smoke.helpers import WRITTEN_FILE, WRITTEN_TEXT, run_execution
from tests.support.fake_ollama import FakeOllama
from tests.support.stigmer_server import StigmerServer

COMPLETED = 3  # ExecutionPhase.EXECUTION_COMPLETED, upstream's number


@pytest.mark.parametrize("owner", ["image user", "uid 1000", "--user 1234"])
def test_an_execution_writes_files_owned_by_the_workspace_owner(
    owner: str,
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    workspace: Path,
    contract: Contract,
    temporal_address: str,
    fake_ollama: FakeOllama,
    stigmer_server: StigmerServer,
) -> None:
    """No --user: the runner becomes the mount's owner (the image's user for a root-owned
    one); with --user it runs as that user, like `docker run --user` always did."""
    if os.getuid() != 0:
        pytest.skip("workspaces owned by other uids need root (CI runs as root)")
    options: dict[str, str] = {}
    if owner == "image user":
        uid = contract.runtime_uid
        os.chown(workspace, 0, 0)
    elif owner == "uid 1000":
        uid = 1000
        os.chown(workspace, uid, uid)
    else:
        uid = 1234
        os.chown(workspace, uid, uid)
        options["user"] = f"{uid}:{uid}"
    queue = base_env[contract.env_var("TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE").name]
    runner = make_runner(base_env, workspace=workspace, **options)
    requests_before = len(fake_ollama.requests)

    result = run_execution(temporal_address, queue)

    assert result.phase == "EXECUTION_COMPLETED", result.status
    assert re.fullmatch(r"thread-.+", result.thread_id)
    assert len(fake_ollama.requests) > requests_before  # the container reached the fake model
    written = workspace / WRITTEN_FILE
    assert written.read_text() == WRITTEN_TEXT
    assert (written.stat().st_uid, written.stat().st_gid) == (uid, uid)
    assert stigmer_server.status_updates[-1]["phase"] == COMPLETED
    # The agent's process (and so its shell) never runs as root.
    status = runner.exec(["python3", "-c", "import os; print(os.stat('/proc/1').st_uid)"])
    assert status.output.decode().strip() == str(uid)
