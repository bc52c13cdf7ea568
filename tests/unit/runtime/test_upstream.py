"""`--upstream-argv`: the planned `docker run` is upstream Stigmer's own, argument for argument."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_tools.errors import ConfigError
from build_tools.runtime.spec import ContainerPlan
from build_tools.runtime.upstream import CLI_MIGRATION, SUPERVISOR, plan_upstream
from tests.support import upstream_argv as upstream

DATA = Path("/home/u/.stigmer/data")
IMAGE = "reg/agent-runner:1.2.3"


def plan(flavor: str, os_name: str = "Linux", **environ: str) -> ContainerPlan:
    return plan_upstream(flavor, image=IMAGE, data_dir=DATA, os_name=os_name, environ=environ)


def filled(argv: list[str]) -> list[str]:
    """Upstream's argv with what it computes at run time filled in for this machine."""
    values = {"workspace": str(DATA / "workspace"), "logs": str(DATA / "logs"), "image": IMAGE}
    return [arg.format(**values) for arg in argv]


@pytest.mark.parametrize(
    ("flavor", "os_name", "expected"),
    [
        (SUPERVISOR, "Linux", upstream.SUPERVISOR_LINUX),
        (SUPERVISOR, "Darwin", upstream.SUPERVISOR_DESKTOP),
        (SUPERVISOR, "Windows", upstream.SUPERVISOR_DESKTOP),
        (CLI_MIGRATION, "Linux", upstream.CLI_MIGRATION_LINUX),
        (CLI_MIGRATION, "Darwin", upstream.CLI_MIGRATION_DESKTOP),
        (CLI_MIGRATION, "Windows", upstream.CLI_MIGRATION_DESKTOP),
    ],
)
def test_the_argv_is_upstreams_verbatim(flavor: str, os_name: str, expected: list[str]) -> None:
    container = plan(flavor, os_name)
    assert ["run", *container.args] == filled(expected)
    assert container.image == IMAGE
    assert container.name == "stigmer-agent-runner"
    assert container.secret_env == ()
    assert container.render() == "docker " + " ".join(filled(expected))


def test_only_image_name_and_paths_are_substituted() -> None:
    container = plan_upstream(
        SUPERVISOR, image="other:9", data_dir=Path("/d"), os_name="Linux", environ={},
        name="h2-runner",
    )  # fmt: skip
    args = list(container.args)
    assert args[args.index("--name") + 1] == "h2-runner"
    assert args[-1] == "other:9"
    assert "/d/workspace:/workspace" in args
    assert "/d/logs:/logs" in args
    assert container.host_dirs == (Path("/d/workspace"), Path("/d/logs"))
    assert plan(CLI_MIGRATION).host_dirs == (DATA / "workspace",)


def env_of(container: ContainerPlan) -> dict[str, str]:
    args = container.args
    pairs = [args[i + 1] for i, arg in enumerate(args) if arg == "-e" and "=" in args[i + 1]]
    return dict(pair.split("=", 1) for pair in pairs)


def test_values_upstream_reads_from_its_environment_and_its_loopback_rewrites() -> None:
    environ = {
        "TEMPORAL_SERVICE_ADDRESS": "127.0.0.1:7300",
        "STIGMER_LLM_MODEL": "llama3",
        "STIGMER_LLM_BASE_URL": "http://localhost:9999",
        "GRPC_PORT": "7400",
    }
    supervisor = env_of(plan(SUPERVISOR, "Darwin", **environ))
    # The supervisor rewrites only "localhost"; the migration-era CLI also "127.0.0.1".
    assert supervisor["TEMPORAL_SERVICE_ADDRESS"] == "127.0.0.1:7300"
    assert supervisor["STIGMER_BACKEND_ENDPOINT"] == "host.docker.internal:7400"
    assert supervisor["STIGMER_LLM_MODEL"] == "llama3"
    assert supervisor["OLLAMA_BASE_URL"] == supervisor["STIGMER_LLM_BASE_URL"]
    assert supervisor["OLLAMA_BASE_URL"] == "http://host.docker.internal:9999"
    migration = env_of(plan(CLI_MIGRATION, "Darwin", **environ))
    assert migration["TEMPORAL_SERVICE_ADDRESS"] == "host.docker.internal:7300"
    assert migration["STIGMER_BACKEND_ENDPOINT"] == "host.docker.internal:7234"  # a constant
    on_linux = env_of(plan(CLI_MIGRATION, "Linux", **environ))
    assert on_linux["TEMPORAL_SERVICE_ADDRESS"] == "127.0.0.1:7300"
    assert on_linux["OLLAMA_BASE_URL"] == "http://localhost:9999"
    # An empty variable is unset, as upstream's getEnv treats it.
    assert env_of(plan(SUPERVISOR, TEMPORAL_SERVICE_ADDRESS=""))["TEMPORAL_SERVICE_ADDRESS"] == (
        "localhost:7233"
    )


def test_the_supervisor_passes_both_api_keys_by_name_before_the_volumes() -> None:
    container = plan(SUPERVISOR, ANTHROPIC_API_KEY="sk-ant", OPENAI_API_KEY="sk-oai")
    args = list(container.args)
    first_volume = args.index(upstream.SUPERVISOR_SECRETS_BEFORE)
    assert args[first_volume - 4 : first_volume] == [
        "-e", "OPENAI_API_KEY", "-e", "ANTHROPIC_API_KEY",
    ]  # fmt: skip
    assert "sk-ant" not in container.render()
    assert "sk-oai" not in container.render()
    assert container.secret_env == (("OPENAI_API_KEY", "sk-oai"), ("ANTHROPIC_API_KEY", "sk-ant"))


@pytest.mark.parametrize(
    ("provider", "key", "model", "base_url"),
    [
        ("anthropic", "ANTHROPIC_API_KEY", "claude-sonnet-4.5", "https://api.anthropic.com"),
        ("openai", "OPENAI_API_KEY", "gpt-4", "https://api.openai.com/v1"),
    ],
)
def test_the_migration_cli_passes_its_providers_key_and_defaults(
    provider: str, key: str, model: str, base_url: str
) -> None:
    with pytest.raises(ConfigError, match=f"{key} is not set"):
        plan(CLI_MIGRATION, STIGMER_LLM_PROVIDER=provider)
    container = plan(CLI_MIGRATION, STIGMER_LLM_PROVIDER=provider, **{key: "sk-1"})
    args = list(container.args)
    assert args[-3:] == ["-e", key, IMAGE]
    assert container.secret_env == ((key, "sk-1"),)
    assert "sk-1" not in container.render()
    env = env_of(container)
    assert (env["STIGMER_LLM_MODEL"], env["STIGMER_LLM_BASE_URL"]) == (model, base_url)


def test_the_migration_cli_refuses_a_provider_it_does_not_know() -> None:
    with pytest.raises(ConfigError, match="only ollama, anthropic, openai") as caught:
        plan(CLI_MIGRATION, STIGMER_LLM_PROVIDER="gemini")
    assert caught.value.exit_code == 2
    assert env_of(plan(SUPERVISOR, STIGMER_LLM_PROVIDER="gemini"))["STIGMER_LLM_PROVIDER"] == (
        "gemini"
    )  # the supervisor passes it through


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"STIGMER_SANDBOX_AUTO_PULL": "false", "STIGMER_SANDBOX_CLEANUP": "yes"},
         {"STIGMER_SANDBOX_AUTO_PULL": "false", "STIGMER_SANDBOX_CLEANUP": "false"}),
        ({"STIGMER_SANDBOX_TTL": "600s"}, {"STIGMER_SANDBOX_TTL": "600"}),
        ({"STIGMER_SANDBOX_TTL": "soon"}, {"STIGMER_SANDBOX_TTL": "3600"}),
        ({"STIGMER_EXECUTION_MODE": "sandbox", "STIGMER_SANDBOX_IMAGE": "sb:1"},
         {"STIGMER_EXECUTION_MODE": "sandbox", "STIGMER_SANDBOX_IMAGE": "sb:1"}),
    ],
)  # fmt: skip
def test_the_migration_cli_sandbox_settings(
    environ: dict[str, str], expected: dict[str, str]
) -> None:
    env = env_of(plan(CLI_MIGRATION, **environ))
    assert {name: env[name] for name in expected} == expected


def test_an_unknown_flavor_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Use supervisor or cli-migration"):
        plan("latest-cli")
