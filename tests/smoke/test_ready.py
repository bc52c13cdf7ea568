"""The image starts, prints its banner, becomes ready and shows up as a poller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from build_tools.runtime.contract_loader import Contract
from build_tools.testbed.temporal_api import activity_pollers
from tests.smoke.conftest import RunnerFactory
from tests.smoke.helpers import banner, ready_line


def test_starts_prints_banner_becomes_ready_and_polls(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    workspace: Path,
    contract: Contract,
    contract_module: Any,
    temporal_address: str,
) -> None:
    runner = make_runner(base_env, workspace=workspace)  # returns once DescribeTaskQueue shows it
    queue = contract.env_var("TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE").name

    config = banner(runner)
    assert config[queue] == base_env[queue]
    ready = ready_line(runner, contract)
    assert set(contract_module.READY_FIELDS) <= set(ready)  # plus the line's ts and level
    assert ready["task_queue"] == base_env[queue]
    assert ready["namespace"] == "default"
    assert 0 < ready["startup_seconds"] < 60
    # Temporal's view, not the runner's: its identity polls the activity queue.
    assert ready["identity"] in activity_pollers(temporal_address, "default", base_env[queue])
