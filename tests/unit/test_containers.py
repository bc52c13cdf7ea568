"""The container seam's pure parts: contract environment, run options, server command, logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_tools.errors import ConfigError
from build_tools.runtime.contract_loader import Contract, read_contract
from build_tools.testbed.containers import (
    check_env_names,
    contract_env,
    parse_events,
    runner_run_options,
    temporal_command,
)
from build_tools.testbed.temporal_image import SERVER_COMMAND

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOGS = (Path(__file__).parent / "data" / "startup" / "docker-logs-timestamps.txt").read_text(
    encoding="utf-8"
)


@pytest.fixture(scope="module")
def contract() -> Contract:
    return read_contract(PROJECT_ROOT)


def test_contract_env_names_variables_by_their_config_field(contract: Contract) -> None:
    env = contract_env(contract, temporal_address="t:1", task_queue="q", sandbox_root=Path("/w"))
    by_field = {var.field: var.name for var in contract.env_vars}
    assert env == {
        by_field["temporal_address"]: "t:1",
        by_field["task_queue"]: "q",
        by_field["sandbox_root"]: "/w",
    }


def test_contract_env_rejects_a_field_the_contract_does_not_have(contract: Contract) -> None:
    with pytest.raises(ConfigError, match="task_queues is not a field of the runtime contract"):
        contract_env(contract, task_queues="q")


def test_runner_env_accepts_canonical_names_and_aliases_only(contract: Contract) -> None:
    aliases = {alias: "x" for var in contract.env_vars for alias in var.aliases}
    assert aliases  # TASK_QUEUE, WORKSPACE_ROOT, STIGMER_BACKEND_URL, ...
    check_env_names(contract, {var.name: "x" for var in contract.env_vars} | aliases)
    with pytest.raises(ConfigError, match="TEMPORAL_TASKQUEUE is not a variable"):
        check_env_names(contract, {"TEMPORAL_TASKQUEUE": "q"})


def test_default_run_is_the_image_user_with_no_extras(contract: Contract) -> None:
    options = runner_run_options(contract)
    assert (options.create, options.tmpfs, options.binds) == ({}, {}, {})


def test_cli_like_run_options(contract: Contract, tmp_path: Path) -> None:
    options = runner_run_options(
        contract,
        workspace=tmp_path,
        user="0:0",
        network_mode="bridge",
        extra_hosts={"host.docker.internal": "host-gateway"},
        platform="linux/arm64",
    )
    assert options.create == {
        "user": "0:0",
        "network_mode": "bridge",
        "extra_hosts": {"host.docker.internal": "host-gateway"},
        "platform": "linux/arm64",
    }
    assert options.binds == {str(tmp_path): contract.workspace_mount}


def test_hardened_run_is_read_only_without_capabilities_and_has_a_tmpfs_for_readiness(
    contract: Contract,
) -> None:
    options = runner_run_options(contract, hardened=True)
    assert options.create == {
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
    }
    (mount,) = options.tmpfs
    assert contract.ready_file_default.startswith(mount + "/")


def test_temporal_command_registers_extra_namespaces_only() -> None:
    assert temporal_command(["default"]) == list(SERVER_COMMAND)
    assert temporal_command(["default", "a", "b"])[-4:] == ["--namespace", "a", "--namespace", "b"]


def test_events_are_the_records_of_the_runners_log_lines() -> None:
    text = "\n".join(line.partition(" ")[2] for line in LOGS.splitlines())  # no docker stamps
    events = parse_events(
        text + '\nplain text\n["a list"]\n{"msg":"bare JSON"}\n'
        '2026-11-29T14:03:39.000Z INFO ["not an object"]\n'
    )
    assert [event.get("event", event.get("msg")) for event in events] == [
        "agent-runner starting",
        "ready",
    ]
    assert events[1]["level"] == "INFO"
    assert events[1]["ts"] == "2026-11-29T14:03:38.888Z"
