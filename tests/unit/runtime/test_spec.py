"""The planned `docker run`: environment from the contract, per-OS networking, user, mounts."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from build_tools.errors import ConfigError
from build_tools.runtime.contract_loader import Contract, contract_path, read_contract
from build_tools.runtime.spec import (
    RunSpec,
    container_plan,
    docker_run_args,
    make_run_spec,
    parse_env_overrides,
    render_docker_run,
    rewrite_loopback,
    stop_seconds_for,
)

DATA = Path("/home/u/.stigmer/data")
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def plan(
    contract: Contract,
    os_name: str = "Linux",
    environ: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
    uid: int | None = 1000,
) -> RunSpec:
    return make_run_spec(
        contract,
        image="reg/agent-runner:1.2.3",
        name=contract.container_name,
        os_name=os_name,
        uid=uid,
        gid=None if uid is None else 1000,
        data_dir=DATA,
        version="1.2.3",
        environ=environ or {},
        overrides=overrides or {},
    )


def test_linux_uses_host_network_user_ids_and_the_contract_workspace(contract: Contract) -> None:
    spec = plan(contract)
    assert spec.name == contract.container_name == "stigmer-agent-runner"
    assert spec.network == "host"
    assert spec.extra_hosts == ()
    assert spec.user == "1000:1000"
    assert [(m.source, m.target) for m in spec.mounts] == [(DATA / "workspace", "/workspace")]
    # Only what the lifecycle owns is set; the image's defaults apply to the rest.
    assert dict(spec.env) == {"SANDBOX_ROOT_DIR": contract.workspace_mount}
    assert spec.restart_policy.startswith("on-failure")
    assert ("max-size", "10m") in spec.log_options


def test_environment_passes_contract_variables_under_canonical_names(contract: Contract) -> None:
    environ = {
        "TASK_QUEUE": "q-alias",  # alias of TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE
        "LOG_LEVEL": "DEBUG",
        "STIGMER_LLM_BASE_URL": "http://llm:11434",  # alias of OLLAMA_BASE_URL
        "ANTHROPIC_API_KEY": "sk-secret",
        "UNRELATED": "x",
        "SANDBOX_ROOT_DIR": "/elsewhere",  # owned by the lifecycle: ignored
        "WORKSPACE_ROOT": "/elsewhere",  # its alias: ignored too
    }
    spec = plan(contract, environ=environ)
    assert dict(spec.env) == {
        "SANDBOX_ROOT_DIR": "/workspace",
        "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE": "q-alias",
        "LOG_LEVEL": "DEBUG",
        "OLLAMA_BASE_URL": "http://llm:11434",
        "ANTHROPIC_API_KEY": "sk-secret",
    }
    assert spec.secret_env == {"ANTHROPIC_API_KEY": "sk-secret"}


def test_secrets_never_appear_in_the_command_line(contract: Contract) -> None:
    spec = plan(contract, environ={"STIGMER_LLM_API_KEY": "sk-secret", "STIGMER_API_KEY": "k"})
    args = docker_run_args(spec)
    assert "sk-secret" not in " ".join(args)
    assert "sk-secret" not in render_docker_run(spec)
    assert args[args.index("STIGMER_LLM_API_KEY") - 1] == "--env"
    assert args[args.index("STIGMER_API_KEY") - 1] == "--env"
    assert spec.secret_env == {"STIGMER_LLM_API_KEY": "sk-secret", "STIGMER_API_KEY": "k"}


def test_override_beats_environment_and_alias_maps_to_canonical(contract: Contract) -> None:
    overrides = parse_env_overrides(contract, ["TASK_QUEUE=from-cli", "LOG_LEVEL=ERROR"])
    env = dict(plan(contract, environ={"LOG_LEVEL": "DEBUG"}, overrides=overrides).env)
    assert env["TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE"] == "from-cli"
    assert env["LOG_LEVEL"] == "ERROR"


@pytest.mark.parametrize("pair", ["NOPE=1", "LOG_LEVEL"])
def test_bad_env_option_is_a_config_error_listing_the_names(contract: Contract, pair: str) -> None:
    with pytest.raises(ConfigError, match="TEMPORAL_SERVICE_ADDRESS") as caught:
        parse_env_overrides(contract, [pair])
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("os_name", ["Darwin", "Windows"])
def test_docker_desktop_rewrites_loopback_addresses_including_defaults(
    contract: Contract, os_name: str
) -> None:
    spec = plan(contract, os_name, environ={"TEMPORAL_SERVICE_ADDRESS": "127.0.0.1:7233"})
    env = dict(spec.env)
    assert spec.network is None
    assert spec.extra_hosts == ("host.docker.internal:host-gateway",)
    assert env["TEMPORAL_SERVICE_ADDRESS"] == "host.docker.internal:7233"
    # Not set by the user: the contract's default, rewritten, is spelled out.
    assert env["OLLAMA_BASE_URL"] == "http://host.docker.internal:11434"


def test_windows_without_uid_runs_as_the_images_user(contract: Contract) -> None:
    spec = plan(contract, "Windows", uid=None)
    assert spec.user is None
    assert "--user" not in docker_run_args(spec)


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("localhost:7233", "host:port", "host.docker.internal:7233"),
        ("temporal.example:7233", "host:port", "temporal.example:7233"),
        ("http://127.0.0.1:11434/api", "url", "http://host.docker.internal:11434/api"),
        ("https://api.example/v1", "url", "https://api.example/v1"),
        ("http://[::1]:8080", "url", "http://host.docker.internal:8080"),
    ],
)
def test_rewrite_loopback(value: str, kind: str, expected: str) -> None:
    assert rewrite_loopback(value, kind) == expected


def test_stop_timeout_is_dockers_default_unless_the_grace_period_needs_more(
    contract: Contract,
) -> None:
    # The runner's default grace (8 s) fits in docker stop's default 10 s, which is what
    # upstream Stigmer's `docker stop` uses.
    assert contract.env_var("AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS").default == "8"
    assert plan(contract).stop_timeout_seconds == 10
    assert "--stop-timeout" in (args := docker_run_args(plan(contract)))
    assert args[args.index("--stop-timeout") + 1] == "10"
    longer = plan(contract, environ={"AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS": "60.5"})
    assert longer.stop_timeout_seconds == 61 + 2
    assert stop_seconds_for(0) == stop_seconds_for(8) == 10
    assert stop_seconds_for(8.1) == 11


def test_dry_run_rendering_is_the_exact_argv(contract: Contract) -> None:
    spec = plan(contract, environ={"LOG_LEVEL": "DEBUG"})
    rendered = render_docker_run(spec)
    assert shlex.split(rendered) == ["docker", "run", *docker_run_args(spec)]
    args = docker_run_args(spec)
    assert args[:3] == ["--detach", "--name", "stigmer-agent-runner"]
    assert args[-1] == "reg/agent-runner:1.2.3"
    assert "type=bind,source=/home/u/.stigmer/data/workspace,target=/workspace" in args
    assert "org.stigmer.agent-runner.version=1.2.3" in args


def test_the_container_plan_carries_the_argv_secrets_and_host_dirs(contract: Contract) -> None:
    spec = plan(contract, environ={"ANTHROPIC_API_KEY": "sk-secret"})
    container = container_plan(spec)
    assert container.args == tuple(docker_run_args(spec))
    assert container.secret_env == (("ANTHROPIC_API_KEY", "sk-secret"),)
    assert container.host_dirs == (DATA / "workspace",)
    assert container.render() == render_docker_run(spec)
    assert "sk-secret" not in container.render()


def test_contract_outside_a_checkout_is_the_toolchains_packaged_copy(tmp_path: Path) -> None:
    # No agent-runner/ under the root: the copy a wheel of the toolchain carries, if any.
    copy = tmp_path / "_contract" / "contract.py"
    copy.parent.mkdir()
    copy.write_text("CONTAINER_NAME = 'x'\n")
    assert contract_path(tmp_path / "elsewhere", packaged=copy) == copy
    with pytest.raises(ConfigError, match="carries no copy"):
        contract_path(tmp_path / "elsewhere", packaged=tmp_path / "absent.py")
    assert read_contract(PROJECT_ROOT).container_name == "stigmer-agent-runner"
