"""Every runtime-contract variable changes the container's behaviour; none is ignored.

Values are generated from the contract itself (by type), so a variable added to the
contract is covered here without editing this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from build_tools.runtime.contract_loader import Contract
from build_tools.testbed.containers import AgentRunnerContainer
from tests.smoke.conftest import RunnerFactory
from tests.smoke.helpers import (
    EXTRA_NAMESPACE,
    WRITTEN_FILE,
    banner,
    ready_line,
    run_execution,
    unique,
)
from tests.support.fake_ollama import FakeOllama

MASK = "***"
# One invalid value per checked type (types without a check, like free strings, have none).
INVALID_BY_TYPE = {
    "choice": "not-a-choice",
    "positive integer": "0",
    "non-negative number (seconds)": "-1",
    "non-negative number": "-0.5",
    "host:port": "no-port-here",
    "url": "ftp://not-http",
}


def _non_default(var: Any, special: dict[str, str]) -> str:
    if var.name in special:
        return special[var.name]
    kind = str(var.type)
    if kind == "choice":
        others = [choice for choice in var.choices if choice != var.default]
        return str((others or list(var.choices))[0])
    if kind == "positive integer":
        return "7"
    if kind == "non-negative number (seconds)":
        return "17.5"
    if kind == "non-negative number":
        return "0.25"
    if kind == "host:port":
        return "127.0.0.1:9"
    if kind == "url":
        return "http://127.0.0.1:9/smoke"
    return f"smoke-{var.name.lower()}"


def _as_seen(value: Any) -> str:
    """The banner prints typed values; compare them as the text they were set from."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _mismatches(
    contract: Contract, runner: AgentRunnerContainer, expected: dict[str, str]
) -> dict[str, tuple[str, str]]:
    seen = banner(runner)
    wrong = {}
    for var in contract.env_vars:
        if var.name not in expected or var.inert:
            continue  # variables not acted on are not in the banner
        want = MASK if var.secret else expected[var.name]
        got = _as_seen(seen.get(var.name))
        if got != want and not (str(var.type) == "url" and got == want.rstrip("/")):
            wrong[var.name] = (want, got)
    return wrong


def test_every_variable_reaches_the_runner(
    make_runner: RunnerFactory,
    contract: Contract,
    temporal_address: str,
    workspace: Path,
) -> None:
    queue = unique("smoke-every")
    ready_file = "/tmp/agent-runner-smoke/ready"
    special = {
        "MODE": "cloud",
        "TEMPORAL_SERVICE_ADDRESS": temporal_address,
        "TEMPORAL_NAMESPACE": EXTRA_NAMESPACE,
        "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE": queue,
        "SANDBOX_ROOT_DIR": f"{contract.workspace_mount}/every-variable",
        "LOG_LEVEL": "DEBUG",
        "STIGMER_LLM_PROVIDER": "anthropic",
        # Honoured values, so the run warns about nothing it was told to do.
        "STIGMER_EXECUTION_MODE": "local",
        "AGENT_RUNNER_READY_FILE": ready_file,
        "AGENT_RUNNER_CONNECT_GIVE_UP_SECONDS": "20",
    }
    env = {var.name: _non_default(var, special) for var in contract.env_vars}

    # Ready means: polling `queue` in the extra namespace, as Temporal reports it.
    runner = make_runner(env, namespace=EXTRA_NAMESPACE, workspace=workspace)

    assert _mismatches(contract, runner, env) == {}
    ready = ready_line(runner, contract)
    assert (ready["namespace"], ready["task_queue"]) == (EXTRA_NAMESPACE, queue)
    assert (workspace / "every-variable").is_dir()  # the sandbox root was created there
    # The healthcheck finds the readiness file at the configured path (it reads the same var).
    health = runner.exec(list(contract.healthcheck_command))
    assert health.exit_code == 0, health.output


def test_aliases_take_effect(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    temporal_address: str,
    workspace: Path,
    fake_ollama: FakeOllama,
) -> None:
    """TASK_QUEUE, WORKSPACE_ROOT, STIGMER_LLM_BASE_URL (every alias) alone set their variable."""
    aliased = {var.name: var for var in contract.env_vars if var.aliases}
    values = {
        "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE": unique("smoke-alias"),
        "SANDBOX_ROOT_DIR": f"{contract.workspace_mount}/aliased-root",
        "OLLAMA_BASE_URL": fake_ollama.base_url,
    }
    env = {k: v for k, v in base_env.items() if k not in aliased}
    expected = {}
    for name, var in aliased.items():
        expected[name] = values.get(name) or _non_default(var, {})
        env[var.aliases[0]] = expected[name]
    queue = expected["TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE"]

    runner = make_runner(env, task_queue=queue, workspace=workspace)  # polls the aliased queue
    requests_before = len(fake_ollama.requests)
    result = run_execution(temporal_address, queue)

    assert result.phase == "EXECUTION_COMPLETED", result.status
    assert len(fake_ollama.requests) > requests_before  # the aliased model URL was used
    where = sorted(str(p.relative_to(workspace)) for p in workspace.rglob(WRITTEN_FILE))
    assert (_mismatches(contract, runner, expected), where) == (
        {},
        [f"aliased-root/{WRITTEN_FILE}"],
    )


def test_invalid_values_exit_with_the_documented_codes(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    contract_module: Any,
) -> None:
    config_invalid = contract_module.EXIT_CONFIG_INVALID.code
    cases: dict[str, tuple[dict[str, str], int, str]] = {}
    for var in contract.env_vars:
        if str(var.type) in INVALID_BY_TYPE:
            env = {**base_env, var.name: INVALID_BY_TYPE[str(var.type)]}
            cases[var.name] = (env, config_invalid, var.name)
    sandbox = contract.env_var("SANDBOX_ROOT_DIR").name
    cases["unwritable sandbox"] = (
        {**base_env, sandbox: "/proc/smoke-not-writable"},
        contract_module.EXIT_SANDBOX_NOT_WRITABLE.code,
        sandbox,
    )
    give_up = contract.env_var("AGENT_RUNNER_CONNECT_GIVE_UP_SECONDS").name
    address = contract.env_var("TEMPORAL_SERVICE_ADDRESS").name
    cases["temporal unreachable"] = (
        {**base_env, address: "127.0.0.1:1", give_up: "0.5"},
        contract_module.EXIT_TEMPORAL_UNREACHABLE.code,
        "127.0.0.1:1",
    )
    # Started together (none becomes ready), then each one's exit code is collected.
    runners = {
        name: make_runner(env, start=False, wait_ready=False) for name, (env, _, _) in cases.items()
    }
    for runner in runners.values():
        runner.start()
    outcomes = {
        name: (runner.wait_exit(60), runner.logs_text()) for name, runner in runners.items()
    }

    wrong = {
        name: (code, outcomes[name][0], outcomes[name][1][-300:])
        for name, (_, code, mention) in cases.items()
        if outcomes[name][0] != code or mention not in outcomes[name][1]
    }
    assert wrong == {}
