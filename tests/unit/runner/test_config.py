"""load_config: defaults, every error case, aliases and precedence, masking."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_runner import contract
from agent_runner.config import Config, ConfigError, check_sandbox, load_config

CLOUD = {
    "MODE": "cloud",
    "STIGMER_BACKEND_ENDPOINT": "api.stigmer.ai:443",
    "STIGMER_API_KEY": "stk-secret",
    "STIGMER_LLM_API_KEY": "sk-secret",
}
# The server supervisor's environment (upstream b070f18 supervisor.go startAgentRunner).
SUPERVISOR_ENV = {
    "MODE": "local",
    "STIGMER_BACKEND_ENDPOINT": "localhost:7234",
    "TEMPORAL_SERVICE_ADDRESS": "localhost:7233",
    "TEMPORAL_NAMESPACE": "default",
    "TASK_QUEUE": "agent_execution_runner",
    "SANDBOX_TYPE": "filesystem",
    "WORKSPACE_ROOT": "/workspace",
    "LOG_LEVEL": "DEBUG",
    "STIGMER_LLM_PROVIDER": "ollama",
    "STIGMER_LLM_MODEL": "qwen2.5-coder:7b",
    "STIGMER_LLM_BASE_URL": "http://localhost:11434",
    "OLLAMA_BASE_URL": "http://localhost:11434",
}
# What the migration-era CLI adds (upstream ad28b48 daemon.go).
MIGRATION_CLI_ENV = {
    **SUPERVISOR_ENV,
    "STIGMER_EXECUTION_MODE": "local",
    "STIGMER_SANDBOX_IMAGE": "ghcr.io/stigmer/agent-sandbox-basic:latest",
    "STIGMER_SANDBOX_AUTO_PULL": "true",
    "STIGMER_SANDBOX_CLEANUP": "true",
    "STIGMER_SANDBOX_TTL": "3600",
}


def test_defaults() -> None:
    resolved = load_config({})
    cfg = resolved.config
    assert resolved.warnings == ()
    assert cfg.mode == "local"
    assert cfg.temporal_address == "localhost:7233"
    assert cfg.namespace == "default"
    assert cfg.task_queue == "agent_execution_runner"
    assert cfg.max_concurrency == 10
    assert cfg.backend_endpoint == "localhost:7234"
    assert cfg.backend_api_key is None
    assert cfg.sandbox_type == "filesystem"
    assert cfg.sandbox_root == Path("./workspace")
    assert cfg.log_level == "INFO"
    assert cfg.llm_provider == "ollama"
    assert cfg.llm_model == contract.DEFAULT_MODELS["ollama"]
    assert cfg.ollama_base_url == "http://localhost:11434"
    assert cfg.llm_api_key is None
    assert cfg.ready_file == Path(contract.READY_FILE_DEFAULT)
    assert cfg.shutdown_grace_seconds == 8.0
    assert cfg.llm_max_tokens == 8192
    assert cfg.llm_temperature == 0.0
    assert cfg.connect_give_up_seconds == 300.0


def test_cloud_mode_defaults_to_anthropic() -> None:
    cfg = load_config(CLOUD).config
    assert cfg.llm_provider == "anthropic"
    assert cfg.llm_model == contract.DEFAULT_MODELS["anthropic"]
    assert cfg.backend_endpoint == "api.stigmer.ai:443"
    assert cfg.backend_api_key == "stk-secret"
    assert cfg.llm_max_tokens == 20000
    assert cfg.llm_temperature is None


@pytest.mark.parametrize("env", [SUPERVISOR_ENV, MIGRATION_CLI_ENV])
def test_upstream_client_environments_are_accepted_without_warnings(env: dict[str, str]) -> None:
    resolved = load_config(env)
    cfg = resolved.config
    assert resolved.warnings == ()
    assert cfg.backend_endpoint == "localhost:7234"
    assert cfg.sandbox_root == Path("/workspace")
    assert cfg.task_queue == "agent_execution_runner"
    assert cfg.llm_model == "qwen2.5-coder:7b"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STIGMER_EXECUTION_MODE", "sandbox"),
        ("DAYTONA_API_KEY", "dtn-secret"),
        ("REDIS_HOST", "redis"),
    ],
)
def test_variables_not_acted_on_warn_once_and_never_fail(name: str, value: str) -> None:
    resolved = load_config({**MIGRATION_CLI_ENV, name: value})
    assert len(resolved.warnings) == 1
    assert resolved.warnings[0].startswith(f"{name}=")
    assert "not acted on" in resolved.warnings[0]
    assert "dtn-secret" not in resolved.warnings[0]


def test_provider_keys_follow_the_provider() -> None:
    openai = load_config(
        {"STIGMER_LLM_PROVIDER": "openai", "OPENAI_API_KEY": "o", "ANTHROPIC_API_KEY": "a"}
    ).config
    assert openai.llm_api_key == "o"
    assert openai.llm_model == contract.DEFAULT_MODELS["openai"]
    anthropic = load_config({"STIGMER_LLM_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "a"})
    assert anthropic.config.llm_api_key == "a"
    explicit = load_config(
        {"STIGMER_LLM_PROVIDER": "openai", "STIGMER_LLM_API_KEY": "s", "OPENAI_API_KEY": "o"}
    )
    assert explicit.config.llm_api_key == "s"
    assert load_config({"OPENAI_API_KEY": "o"}).config.llm_api_key is None  # ollama


def test_model_parameters() -> None:
    cfg = load_config({"STIGMER_LLM_MAX_TOKENS": "512", "STIGMER_LLM_TEMPERATURE": "0.7"}).config
    assert cfg.llm_max_tokens == 512
    assert cfg.llm_temperature == 0.7


def test_values_are_parsed() -> None:
    cfg = load_config(
        {
            "TEMPORAL_SERVICE_ADDRESS": "temporal.svc:7233",
            "TEMPORAL_MAX_CONCURRENCY": "3",
            "LOG_LEVEL": "debug",
            "AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS": "2.5",
            "OLLAMA_BASE_URL": "http://host.docker.internal:11434/",
        }
    ).config
    assert cfg.temporal_address == "temporal.svc:7233"
    assert cfg.max_concurrency == 3
    assert cfg.log_level == "DEBUG"
    assert cfg.shutdown_grace_seconds == 2.5
    assert cfg.ollama_base_url == "http://host.docker.internal:11434"


def _error(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(env)
    return info.value


@pytest.mark.parametrize(
    ("env", "var"),
    [
        ({"MODE": "hybrid"}, "MODE"),
        ({"TEMPORAL_SERVICE_ADDRESS": "localhost"}, "TEMPORAL_SERVICE_ADDRESS"),
        ({"TEMPORAL_SERVICE_ADDRESS": "localhost:99999"}, "TEMPORAL_SERVICE_ADDRESS"),
        ({"TEMPORAL_SERVICE_ADDRESS": "bad host:7233"}, "TEMPORAL_SERVICE_ADDRESS"),
        ({"TEMPORAL_SERVICE_ADDRESS": "http://x:7233"}, "TEMPORAL_SERVICE_ADDRESS"),
        ({"TEMPORAL_MAX_CONCURRENCY": "ten"}, "TEMPORAL_MAX_CONCURRENCY"),
        ({"TEMPORAL_MAX_CONCURRENCY": "0"}, "TEMPORAL_MAX_CONCURRENCY"),
        ({"TEMPORAL_MAX_CONCURRENCY": "-2"}, "TEMPORAL_MAX_CONCURRENCY"),
        ({"TEMPORAL_MAX_CONCURRENCY": "1.5"}, "TEMPORAL_MAX_CONCURRENCY"),
        ({"SANDBOX_TYPE": "docker"}, "SANDBOX_TYPE"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"STIGMER_LLM_PROVIDER": "gemini"}, "STIGMER_LLM_PROVIDER"),
        ({"STIGMER_LLM_PROVIDER": "openai"}, "STIGMER_LLM_API_KEY"),
        ({"STIGMER_BACKEND_ENDPOINT": "http://localhost:7234"}, "STIGMER_BACKEND_ENDPOINT"),
        ({"STIGMER_LLM_MAX_TOKENS": "0"}, "STIGMER_LLM_MAX_TOKENS"),
        ({"STIGMER_LLM_TEMPERATURE": "hot"}, "STIGMER_LLM_TEMPERATURE"),
        ({"OLLAMA_BASE_URL": "localhost:11434"}, "OLLAMA_BASE_URL"),
        ({"OLLAMA_BASE_URL": "http://h:notaport"}, "OLLAMA_BASE_URL"),
        ({"AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS": "-1"}, "AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS"),
        ({"AGENT_RUNNER_CONNECT_GIVE_UP_SECONDS": "nan"}, "AGENT_RUNNER_CONNECT_GIVE_UP_SECONDS"),
        ({"MODE": "cloud", "STIGMER_LLM_API_KEY": "k"}, "STIGMER_API_KEY"),
        ({"MODE": "cloud", "STIGMER_API_KEY": "b"}, "STIGMER_LLM_API_KEY"),
        ({"STIGMER_LLM_PROVIDER": "anthropic"}, "STIGMER_LLM_API_KEY"),
    ],
)
def test_invalid_values_give_one_clear_line(env: dict[str, str], var: str) -> None:
    error = _error(env)
    assert error.exit_code is contract.EXIT_CONFIG_INVALID
    assert "\n" not in error.line
    assert error.line.startswith(f"agent-runner: {var}")
    assert " is invalid because " in error.line
    assert f"Set {var}" in error.line


def test_error_names_the_alias_that_supplied_the_value() -> None:
    error = _error({"TASK_QUEUE": "q", "WORKSPACE_ROOT": "/w", "STIGMER_LLM_BASE_URL": "ftp://x"})
    assert error.line.startswith("agent-runner: STIGMER_LLM_BASE_URL (alias of OLLAMA_BASE_URL)")
    assert "Set OLLAMA_BASE_URL" in error.line


def test_secret_values_never_appear_in_errors() -> None:
    # A URL-typed secret does not exist, so fake one through a provider check instead.
    error = _error({"STIGMER_LLM_PROVIDER": "anthropic", "MODE": "local"})
    assert "sk-" not in error.line


@pytest.mark.parametrize(
    ("alias", "canonical", "field", "value"),
    [
        ("TASK_QUEUE", "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE", "task_queue", "q1"),
        ("WORKSPACE_ROOT", "SANDBOX_ROOT_DIR", "sandbox_root", Path("/ws")),
        ("STIGMER_LLM_BASE_URL", "OLLAMA_BASE_URL", "ollama_base_url", "http://b"),
    ],
)
def test_aliases(alias: str, canonical: str, field: str, value: object) -> None:
    alone = load_config({alias: str(value)})
    assert getattr(alone.config, field) == value
    assert alone.warnings == ()

    # Canonical wins; differing values are warned about, naming both.
    both = load_config(
        {alias: "/other" if field == "sandbox_root" else "http://other", canonical: str(value)}
    )
    assert getattr(both.config, field) == value
    assert len(both.warnings) == 1
    assert alias in both.warnings[0]
    assert canonical in both.warnings[0]

    same = load_config({alias: str(value), canonical: str(value)})
    assert same.warnings == ()


def test_empty_string_counts_as_unset() -> None:
    cfg = load_config({"TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE": "", "TASK_QUEUE": "q"}).config
    assert cfg.task_queue == "q"
    assert load_config({"MODE": ""}).config.mode == "local"


def test_masking_hides_secrets_only() -> None:
    masked = load_config(CLOUD).config.masked()
    assert masked["STIGMER_LLM_API_KEY"] == "***"
    assert "sk-secret" not in repr(masked)
    assert masked["STIGMER_API_KEY"] == "***"
    assert "stk-secret" not in repr(masked)
    assert masked["STIGMER_BACKEND_ENDPOINT"] == "api.stigmer.ai:443"
    assert set(masked) == {v.name for v in contract.ENV_VARS if not v.inert}


def test_config_reads_only_declared_variables() -> None:
    seen: set[str] = set()

    class Recorder(dict[str, str]):
        def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
            seen.add(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> str:
            seen.add(key)
            return super().__getitem__(key)

    env = Recorder(CLOUD)
    load_config(env)
    declared = {n for v in contract.ENV_VARS for n in v.all_names}
    assert seen <= declared
    assert {v.name for v in contract.ENV_VARS} <= seen


def test_check_sandbox_creates_and_probes(tmp_path: Path) -> None:
    cfg = load_config(
        {
            "SANDBOX_ROOT_DIR": str(tmp_path / "a" / "b"),
            "AGENT_RUNNER_READY_FILE": str(tmp_path / "r" / "ready"),
        }
    ).config
    assert check_sandbox(cfg) == (tmp_path / "a" / "b").resolve()
    assert list((tmp_path / "a" / "b").iterdir()) == []


def test_check_sandbox_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg: Config = load_config(
        {"SANDBOX_ROOT_DIR": str(blocker / "ws"), "AGENT_RUNNER_READY_FILE": str(tmp_path / "r")}
    ).config
    with pytest.raises(ConfigError) as info:
        check_sandbox(cfg)
    assert info.value.exit_code is contract.EXIT_SANDBOX_NOT_WRITABLE
    assert info.value.line.startswith("agent-runner: SANDBOX_ROOT_DIR=")
    assert "Set SANDBOX_ROOT_DIR to" in info.value.line


def test_ready_file_directory_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = load_config(
        {
            "SANDBOX_ROOT_DIR": str(tmp_path / "ws"),
            "AGENT_RUNNER_READY_FILE": str(blocker / "ready"),
        }
    ).config
    with pytest.raises(ConfigError) as info:
        check_sandbox(cfg)
    assert info.value.exit_code is contract.EXIT_CONFIG_INVALID
    assert info.value.line.startswith("agent-runner: AGENT_RUNNER_READY_FILE=")
    assert "Set AGENT_RUNNER_READY_FILE to" in info.value.line
