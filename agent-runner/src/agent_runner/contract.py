"""The agent-runner runtime contract, declared once.

STDLIB ONLY and side-effect free: build tooling loads this file by path (without
installing the runner's dependencies) to generate or check docs, the CLI's
container invocation, compose files and the Dockerfile. Nothing here reads the
environment; ``agent_runner.config`` is the only reader, and it reads only the
variables declared in ``ENV_VARS``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class VarType(enum.StrEnum):
    STRING = "string"
    CHOICE = "choice"
    HOST_PORT = "host:port"
    URL = "url"
    POSITIVE_INT = "positive integer"
    NON_NEGATIVE_FLOAT = "non-negative number (seconds)"
    PATH = "path"


@dataclass(frozen=True)
class EnvVar:
    """One environment variable of the runner.

    ``field`` names the ``Config`` attribute that consumes the value; a unit test
    asserts every declared variable maps to a real attribute, so a declared
    variable cannot be silently ignored.
    """

    name: str
    field: str
    type: VarType
    description: str
    default: str | None = None
    # Accepted alternative names, highest precedence first. The canonical name
    # always wins over any alias.
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    secret: bool = False
    # Modes (values of MODE) in which the variable must be set (non-empty).
    required_in_modes: tuple[str, ...] = ()

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class ExitCode:
    code: int
    name: str
    description: str


# Exit codes follow sysexits(3) so they are distinct from Python's own 1/2.
EXIT_OK = ExitCode(0, "ok", "Clean shutdown (including after SIGTERM/SIGINT).")
EXIT_CONFIG_INVALID = ExitCode(78, "config_invalid", "A configuration value is invalid.")
EXIT_SANDBOX_NOT_WRITABLE = ExitCode(
    73, "sandbox_not_writable", "SANDBOX_ROOT_DIR cannot be created or written."
)
EXIT_TEMPORAL_UNREACHABLE = ExitCode(
    69,
    "temporal_unreachable",
    "Temporal stayed unreachable for AGENT_RUNNER_CONNECT_GIVE_UP_SECONDS.",
)
EXIT_CRASH = ExitCode(70, "unexpected_crash", "Unexpected internal error.")
EXIT_CODES: tuple[ExitCode, ...] = (
    EXIT_OK,
    EXIT_CONFIG_INVALID,
    EXIT_SANDBOX_NOT_WRITABLE,
    EXIT_TEMPORAL_UNREACHABLE,
    EXIT_CRASH,
)

CONTAINER_NAME = "stigmer-agent-runner"
# Where the CLI mounts the host workspace; the image sets SANDBOX_ROOT_DIR to it.
WORKSPACE_MOUNT = "/workspace"
RUNTIME_UID = 10001
RUNTIME_GID = 10001

# Readiness: the file is written (atomically) only after DescribeTaskQueue shows
# this worker's poller, and removed on shutdown. Content is one JSON object with
# the READY_FIELDS keys. The same object, as one JSON line on stderr, is the
# machine-readable ready log line.
READY_FILE_DEFAULT = "/tmp/agent-runner/ready"  # noqa: S108 - fixed, documented container path
READY_EVENT = "ready"
READY_FIELDS: tuple[str, ...] = (
    "event",
    "task_queue",
    "namespace",
    "identity",
    "pid",
    "startup_seconds",
)
HEALTHCHECK_COMMAND: tuple[str, ...] = ("python3", "-m", "agent_runner.healthcheck")

# Wire names of the activities registered on the runner's task queue.
ACTIVITY_ENSURE_THREAD = "EnsureThread"
ACTIVITY_EXECUTE_GRAPHTON = "ExecuteGraphton"
ACTIVITY_CLEANUP_SANDBOX = "CleanupSandbox"
ACTIVITY_NAMES: tuple[str, ...] = (
    ACTIVITY_ENSURE_THREAD,
    ACTIVITY_EXECUTE_GRAPHTON,
    ACTIVITY_CLEANUP_SANDBOX,
)
# Queue of the Stigmer workflow that calls these activities (runs elsewhere).
STIGMER_WORKFLOW_TASK_QUEUE = "agent_execution_stigmer"

# Backoff used while Temporal is unreachable at start.
CONNECT_BACKOFF_INITIAL_SECONDS = 0.25
CONNECT_BACKOFF_MAX_SECONDS = 2.0

DEFAULT_MODELS: dict[str, str] = {"ollama": "qwen2.5:7b", "anthropic": "claude-sonnet-4-5"}

ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("MODE", "mode", VarType.CHOICE, "Deployment mode.", "local", choices=("local", "cloud")),
    EnvVar(
        "TEMPORAL_SERVICE_ADDRESS",
        "temporal_address",
        VarType.HOST_PORT,
        "Temporal frontend address.",
        "localhost:7233",
    ),
    EnvVar("TEMPORAL_NAMESPACE", "namespace", VarType.STRING, "Temporal namespace.", "default"),
    EnvVar(
        "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE",
        "task_queue",
        VarType.STRING,
        "Activity task queue the runner polls.",
        "agent_execution_runner",
        aliases=("TASK_QUEUE",),
    ),
    EnvVar(
        "TEMPORAL_MAX_CONCURRENCY",
        "max_concurrency",
        VarType.POSITIVE_INT,
        "Maximum activities executed concurrently.",
        "10",
    ),
    EnvVar(
        "STIGMER_BACKEND_ENDPOINT",
        "backend_endpoint",
        VarType.URL,
        "Stigmer backend URL.",
        None,
        aliases=("STIGMER_BACKEND_URL",),
        required_in_modes=("cloud",),
    ),
    EnvVar(
        "SANDBOX_TYPE",
        "sandbox_type",
        VarType.CHOICE,
        "Sandbox implementation.",
        "filesystem",
        choices=("filesystem",),
    ),
    EnvVar(
        "SANDBOX_ROOT_DIR",
        "sandbox_root",
        VarType.PATH,
        "Directory holding one sub-directory per thread; must be writable.",
        "./workspace",
        aliases=("WORKSPACE_ROOT",),
    ),
    EnvVar(
        "LOG_LEVEL",
        "log_level",
        VarType.CHOICE,
        "Log verbosity.",
        "INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    ),
    EnvVar(
        "STIGMER_LLM_PROVIDER",
        "llm_provider",
        VarType.CHOICE,
        "Chat model provider; empty means ollama in local mode, anthropic in cloud mode.",
        None,
        choices=("ollama", "anthropic"),
    ),
    EnvVar(
        "STIGMER_LLM_MODEL",
        "llm_model",
        VarType.STRING,
        "Model name; empty means the provider default "
        + ", ".join(f"{k}: {v}" for k, v in DEFAULT_MODELS.items())
        + ".",
        None,
    ),
    EnvVar(
        "OLLAMA_BASE_URL",
        "ollama_base_url",
        VarType.URL,
        "Ollama server URL (provider ollama).",
        "http://localhost:11434",
    ),
    EnvVar(
        "STIGMER_LLM_API_KEY",
        "llm_api_key",
        VarType.STRING,
        "API key of the LLM provider (anthropic).",
        None,
        aliases=("ANTHROPIC_API_KEY",),
        secret=True,
        required_in_modes=("cloud",),
    ),
    EnvVar(
        "AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS",
        "shutdown_grace_seconds",
        VarType.NON_NEGATIVE_FLOAT,
        "After SIGTERM, how long in-flight activities may run before being cancelled.",
        "30",
    ),
    EnvVar(
        "AGENT_RUNNER_CONNECT_GIVE_UP_SECONDS",
        "connect_give_up_seconds",
        VarType.NON_NEGATIVE_FLOAT,
        "Give up (exit 69) if Temporal stays unreachable this long at start; 0 retries forever.",
        "300",
    ),
    EnvVar(
        "AGENT_RUNNER_READY_FILE",
        "ready_file",
        VarType.PATH,
        "Readiness file written once the worker polls; removed on shutdown.",
        READY_FILE_DEFAULT,
    ),
    EnvVar(
        "AGENT_RUNNER_MAX_STEPS",
        "max_steps",
        VarType.POSITIVE_INT,
        "Maximum model calls of one agent run.",
        "25",
    ),
    EnvVar(
        "AGENT_RUNNER_LLM_TIMEOUT_SECONDS",
        "llm_timeout_seconds",
        VarType.NON_NEGATIVE_FLOAT,
        "HTTP timeout of one LLM request.",
        "120",
    ),
)


def env_var(name: str) -> EnvVar:
    for var in ENV_VARS:
        if var.name == name:
            return var
    raise KeyError(name)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown() -> str:
    """Render the environment variables and exit codes as Markdown tables."""
    lines = [
        "| Variable | Default | Aliases (precedence order) | Type | Secret | Description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for var in ENV_VARS:
        kind = var.type.value
        if var.choices:
            kind += ": " + ", ".join(f"`{c}`" for c in var.choices)
        desc = var.description
        if var.required_in_modes:
            desc += " Required when MODE is " + " or ".join(var.required_in_modes) + "."
        default = f"`{var.default}`" if var.default is not None else "(unset)"
        aliases = ", ".join(f"`{a}`" for a in var.aliases) or "-"
        lines.append(
            f"| `{var.name}` | {_cell(default)} | {aliases} | {_cell(kind)} | "
            f"{'yes' if var.secret else 'no'} | {_cell(desc)} |"
        )
    lines += [
        "",
        "The canonical name wins over its aliases; if both are set to different values,",
        "the runner logs a warning naming both.",
        "",
        "| Exit code | Name | Meaning |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {e.code} | `{e.name}` | {_cell(e.description)} |" for e in EXIT_CODES]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
