"""`start --upstream-argv FLAVOR`: the container exactly as upstream Stigmer starts it.

FLAVOR names the upstream client whose `docker run` is reproduced flag for flag, in its order:
- `supervisor`: stigmer-server's component supervisor (`startAgentRunner` in
  `backend/services/stigmer-server/pkg/supervisor/supervisor.go`, commit b070f18), which
  `stigmer server start` runs today;
- `cli-migration`: the CLI daemon of the Docker migration (`startAgentRunner` in
  `client-apps/cli/internal/cli/daemon/daemon.go`, commit ad28b48).

Substituted, as upstream computes them at run time: the image, the container name (only if
`--name` is given), the data directory's paths, the values upstream reads from its
environment (with upstream's defaults; there is no config file here) and, off Linux,
`localhost` (cli-migration: also `127.0.0.1`) replaced by `host.docker.internal` in those
values. One deliberate difference: API keys are passed by name (`-e ANTHROPIC_API_KEY`) with
their values in the docker client's environment, never on the command line; the container
sees the same variables. (cli-migration prompts for a key missing from its environment and
passes what was typed; this tool cannot prompt, so it passes the environment's.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from build_tools.errors import ConfigError
from build_tools.runtime.spec import WORKSPACE_DIR_NAME, ContainerPlan

SUPERVISOR = "supervisor"
CLI_MIGRATION = "cli-migration"
FLAVORS = (SUPERVISOR, CLI_MIGRATION)
UPSTREAM_CONTAINER_NAME = "stigmer-agent-runner"
LOG_DIR_NAME = "logs"  # the CLI sets the server's STIGMER_LOG_DIR to <data dir>/logs
DOCKER_DESKTOP_HOST = "host.docker.internal"
DOCKER_SOCKET = "/var/run/docker.sock"
_DEFAULT_TEMPORAL = "localhost:7233"
_DEFAULT_BACKEND_PORT = "7234"  # stigmer-server's gRPC port (GRPC_PORT)
_DEFAULT_OLLAMA_URL = "http://localhost:11434"
# Both clients' fixed settings, in their argv order, after the backend and Temporal addresses.
_FIXED_ENV = (
    ("TEMPORAL_NAMESPACE", "default"),
    ("TASK_QUEUE", "agent_execution_runner"),
    ("SANDBOX_TYPE", "filesystem"),
    ("WORKSPACE_ROOT", "/workspace"),
    ("LOG_LEVEL", "DEBUG"),
)
# Which keys each client passes, in order.
_SUPERVISOR_SECRETS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
_MIGRATION_SECRETS = {"ollama": None, "anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
# cli-migration's per-provider defaults (its config package).
_MIGRATION_MODELS = {"anthropic": "claude-sonnet-4.5", "openai": "gpt-4"}
_MIGRATION_BASE_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
}
_MIGRATION_DEFAULT_MODEL = "qwen2.5-coder:7b"
_SUPERVISOR_DEFAULT_MODEL = "qwen2.5-coder:14b"
_DEFAULT_SANDBOX_IMAGE = "ghcr.io/stigmer/agent-sandbox-basic:latest"
_DEFAULT_SANDBOX_TTL = 3600


def _reader(environ: Mapping[str, str]) -> Callable[[str, str], str]:
    def read(name: str, default: str) -> str:  # upstream: an empty variable means unset
        return environ.get(name) or default

    return read


def _start_args(name: str, linux: bool) -> list[str]:
    args = ["-d", "--name", name, "--restart", "unless-stopped"]
    return [*args, "--network", "host"] if linux else args


def _env_args(pairs: list[tuple[str, str]]) -> list[str]:
    return [arg for key, value in pairs for arg in ("-e", f"{key}={value}")]


def _secret_args(names: list[str]) -> list[str]:
    return [arg for name in names for arg in ("-e", name)]


def supervisor_env(environ: Mapping[str, str], *, linux: bool) -> list[tuple[str, str]]:
    """The environment the supervisor passes the container, in its order (no secrets)."""
    read = _reader(environ)

    def host_address(value: str) -> str:
        return value if linux else value.replace("localhost", DOCKER_DESKTOP_HOST)

    port = read("GRPC_PORT", _DEFAULT_BACKEND_PORT)
    port = port if port.isdigit() else _DEFAULT_BACKEND_PORT
    base_url = host_address(read("STIGMER_LLM_BASE_URL", _DEFAULT_OLLAMA_URL))
    temporal = host_address(read("TEMPORAL_SERVICE_ADDRESS", _DEFAULT_TEMPORAL))
    return [
        ("MODE", "local"),
        ("STIGMER_BACKEND_ENDPOINT", host_address(f"localhost:{port}")),
        ("TEMPORAL_SERVICE_ADDRESS", temporal),
        *_FIXED_ENV,
        ("STIGMER_LLM_PROVIDER", read("STIGMER_LLM_PROVIDER", "ollama")),
        ("STIGMER_LLM_MODEL", read("STIGMER_LLM_MODEL", _SUPERVISOR_DEFAULT_MODEL)),
        ("STIGMER_LLM_BASE_URL", base_url),
        ("OLLAMA_BASE_URL", base_url),
    ]


def _supervisor(
    image: str, name: str, data_dir: Path, linux: bool, environ: Mapping[str, str]
) -> ContainerPlan:
    env = supervisor_env(environ, linux=linux)
    secrets = [(key, environ[key]) for key in _SUPERVISOR_SECRETS if environ.get(key)]
    workspace, logs = data_dir / WORKSPACE_DIR_NAME, data_dir / LOG_DIR_NAME
    args = [
        *_start_args(name, linux),
        *_env_args(env),
        *_secret_args([key for key, _ in secrets]),
        *("-v", f"{workspace}:/workspace", "-v", f"{logs}:/logs"),
        image,
    ]
    return ContainerPlan(name, image, tuple(args), tuple(secrets), (workspace, logs))


def _flag(read: Callable[[str, str], str], name: str) -> str:
    # cli-migration: a set variable is true only when it says "true"; unset means true.
    return "true" if read(name, "true") == "true" else "false"


def _ttl(read: Callable[[str, str], str]) -> str:
    # cli-migration scans a leading integer (Go's %d); anything else means the default.
    match = re.match(r"^\s*([+-]?\d+)", read("STIGMER_SANDBOX_TTL", ""))
    return str(int(match[1])) if match else str(_DEFAULT_SANDBOX_TTL)


def _cli_migration(
    image: str, name: str, data_dir: Path, linux: bool, environ: Mapping[str, str]
) -> ContainerPlan:
    read = _reader(environ)

    def host_address(value: str) -> str:
        if linux:
            return value
        return value.replace("localhost", DOCKER_DESKTOP_HOST).replace(
            "127.0.0.1", DOCKER_DESKTOP_HOST
        )

    provider = read("STIGMER_LLM_PROVIDER", "ollama")
    if provider not in _MIGRATION_SECRETS:
        raise ConfigError(
            "Starting agent-runner as the migration-era CLI does",
            f"STIGMER_LLM_PROVIDER={provider!r}: that CLI supports only ollama, anthropic, openai",
            "Set STIGMER_LLM_PROVIDER to one of them.",
        )
    key = _MIGRATION_SECRETS[provider]
    if key is not None and not environ.get(key):
        raise ConfigError(
            f"Starting agent-runner as the migration-era CLI does (provider {provider})",
            f"{key} is not set (that CLI would prompt for it)",
            f"Export {key} and retry.",
        )
    default_url = _MIGRATION_BASE_URLS.get(provider, _DEFAULT_OLLAMA_URL)
    base_url = host_address(read("STIGMER_LLM_BASE_URL", default_url))
    temporal = host_address(read("TEMPORAL_SERVICE_ADDRESS", _DEFAULT_TEMPORAL))
    model = read("STIGMER_LLM_MODEL", _MIGRATION_MODELS.get(provider, _MIGRATION_DEFAULT_MODEL))
    env = [
        ("MODE", "local"),
        ("STIGMER_BACKEND_ENDPOINT", host_address(f"localhost:{_DEFAULT_BACKEND_PORT}")),
        ("TEMPORAL_SERVICE_ADDRESS", temporal),
        *_FIXED_ENV,
        ("STIGMER_LLM_PROVIDER", provider),
        ("STIGMER_LLM_MODEL", model),
        ("STIGMER_LLM_BASE_URL", base_url),
        ("OLLAMA_BASE_URL", base_url),
        ("STIGMER_EXECUTION_MODE", read("STIGMER_EXECUTION_MODE", "local")),
        ("STIGMER_SANDBOX_IMAGE", read("STIGMER_SANDBOX_IMAGE", _DEFAULT_SANDBOX_IMAGE)),
        ("STIGMER_SANDBOX_AUTO_PULL", _flag(read, "STIGMER_SANDBOX_AUTO_PULL")),
        ("STIGMER_SANDBOX_CLEANUP", _flag(read, "STIGMER_SANDBOX_CLEANUP")),
        ("STIGMER_SANDBOX_TTL", _ttl(read)),
    ]
    secrets = [(key, environ[key])] if key is not None else []
    workspace = data_dir / WORKSPACE_DIR_NAME
    args = [
        *_start_args(name, linux),
        *_env_args(env),
        *("-v", f"{workspace}:/workspace", "-v", f"{DOCKER_SOCKET}:{DOCKER_SOCKET}"),
        *("--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3"),
        *_secret_args([secret for secret, _ in secrets]),
        image,
    ]
    return ContainerPlan(name, image, tuple(args), tuple(secrets), (workspace,))


def plan_upstream(
    flavor: str,
    *,
    image: str,
    data_dir: Path,
    os_name: str,
    environ: Mapping[str, str],
    name: str = UPSTREAM_CONTAINER_NAME,
) -> ContainerPlan:
    """Pure: upstream `flavor`'s `docker run` for this machine (see the module docstring)."""
    planners = {SUPERVISOR: _supervisor, CLI_MIGRATION: _cli_migration}
    if flavor not in planners:
        raise ConfigError(
            f"Reading --upstream-argv {flavor!r}", "it is unknown", f"Use {' or '.join(FLAVORS)}."
        )
    return planners[flavor](image, name, data_dir, os_name == "Linux", environ)
