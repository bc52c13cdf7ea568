"""The agent-runner runtime contract, declared once.

STDLIB ONLY and side-effect free: build tooling loads this file by path (without
installing the runner's dependencies) to generate or check docs, the CLI's
container invocation, compose files and the Dockerfile. Nothing here reads the
environment; ``agent_runner.config`` is the only reader, and it reads only the
variables declared in ``ENV_VARS``.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any


class VarType(enum.StrEnum):
    STRING = "string"
    CHOICE = "choice"
    HOST_PORT = "host:port"
    URL = "url"
    POSITIVE_INT = "positive integer"
    NON_NEGATIVE_FLOAT = "non-negative number (seconds)"
    NUMBER = "non-negative number"
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
    # Accepted but not acted on: upstream Stigmer clients pass it, this image has no use
    # for it. ``field`` is empty; a value outside ``honoured`` (what this image does
    # anyway) draws one warning line, never an error.
    inert: bool = False
    honoured: tuple[str, ...] = ()

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
# The image's entrypoint. The flag makes a root start drop to the workspace owner
# (agent_runner/privileges.py); run from source (`python -m agent_runner`) nothing changes
# hands, whoever starts it.
AS_WORKSPACE_OWNER_FLAG = "--as-workspace-owner"
ENTRYPOINT: tuple[str, ...] = ("python3", "-m", "agent_runner", AS_WORKSPACE_OWNER_FLAG)

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

# ollama's is upstream's local default; anthropic's is upstream's cloud default written as
# Anthropic's model id; openai has no upstream default.
DEFAULT_MODELS: dict[str, str] = {
    "ollama": "qwen2.5-coder:7b",
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o-mini",
}
# Upstream's mode-aware model parameters (worker/config.py): local, cloud.
DEFAULT_MAX_TOKENS: dict[str, int] = {"local": 8192, "cloud": 20000}
DEFAULT_TEMPERATURE: dict[str, float | None] = {"local": 0.0, "cloud": None}

# The backend the runner reports to: a gRPC host:port, TLS when the port is 443.
BACKEND_TLS_PORT = 443
# Sent as `authorization: Bearer <key>` on every backend call. Without STIGMER_API_KEY in
# local mode upstream's runner sends this placeholder (stigmer-server OSS ignores it).
BACKEND_AUTH_METADATA = "authorization"
LOCAL_PLACEHOLDER_API_KEY = "dummy-local-key"

# Log lines: "<UTC timestamp> <LEVEL> <JSON object>". The leading timestamp is what the
# Stigmer CLI's `logs --all` merger orders by; the JSON after it is for machines.
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_LINE = re.compile(
    r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) (?P<level>[A-Z]+) (?P<json>\{.*\})"
)


def format_log_line(ts: str, level: str, record: dict[str, Any]) -> str:
    return f"{ts} {level} " + json.dumps(record, default=str, separators=(",", ":"))


def parse_log_line(line: str) -> dict[str, Any] | None:
    """A runner log line -> its JSON object with "ts" and "level" added; None otherwise."""
    match = _LOG_LINE.fullmatch(line.strip())
    if match is None or match["level"] not in LOG_LEVELS:
        return None
    try:
        record = json.loads(match["json"])
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    return {"ts": match["ts"], "level": match["level"], **record}


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
        VarType.HOST_PORT,
        "Stigmer backend gRPC address (no scheme; TLS when the port is 443).",
        "localhost:7234",
    ),
    EnvVar(
        "STIGMER_API_KEY",
        "backend_api_key",
        VarType.STRING,
        "API key for the Stigmer backend, sent as a Bearer token.",
        None,
        secret=True,
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
        choices=("ollama", "anthropic", "openai"),
    ),
    EnvVar(
        "STIGMER_LLM_MODEL",
        "llm_model",
        VarType.STRING,
        "Model name unless the execution names one; empty means the provider default "
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
        aliases=("STIGMER_LLM_BASE_URL",),
    ),
    EnvVar(
        "STIGMER_LLM_API_KEY",
        "llm_api_key",
        VarType.STRING,
        "API key of the LLM provider; empty means ANTHROPIC_API_KEY or OPENAI_API_KEY, "
        "by provider.",
        None,
        secret=True,
    ),
    EnvVar(
        "ANTHROPIC_API_KEY",
        "anthropic_api_key",
        VarType.STRING,
        "Anthropic API key (provider anthropic) when STIGMER_LLM_API_KEY is empty.",
        None,
        secret=True,
    ),
    EnvVar(
        "OPENAI_API_KEY",
        "openai_api_key",
        VarType.STRING,
        "OpenAI API key (provider openai) when STIGMER_LLM_API_KEY is empty.",
        None,
        secret=True,
    ),
    EnvVar(
        "STIGMER_LLM_MAX_TOKENS",
        "llm_max_tokens",
        VarType.POSITIVE_INT,
        "Maximum tokens of one model reply; empty means 8192 in local mode, 20000 in cloud mode.",
        None,
    ),
    EnvVar(
        "STIGMER_LLM_TEMPERATURE",
        "llm_temperature",
        VarType.NUMBER,
        "Sampling temperature; empty means 0 in local mode, the provider's own in cloud mode.",
        None,
    ),
    EnvVar(
        "AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS",
        "shutdown_grace_seconds",
        VarType.NON_NEGATIVE_FLOAT,
        "After SIGTERM, how long in-flight activities may run before being cancelled "
        "(below docker stop's default 10 s).",
        "8",
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
        "AGENT_RUNNER_LLM_TIMEOUT_SECONDS",
        "llm_timeout_seconds",
        VarType.NON_NEGATIVE_FLOAT,
        "HTTP timeout of one LLM request.",
        "120",
    ),
    EnvVar(
        "AGENT_RUNNER_HEARTBEAT_SECONDS",
        "heartbeat_seconds",
        VarType.NON_NEGATIVE_FLOAT,
        "Longest gap between ExecuteGraphton heartbeats (the workflow's timeout is 30 s).",
        "5",
    ),
    EnvVar(
        "AGENT_RUNNER_STATUS_UPDATE_SECONDS",
        "status_update_seconds",
        VarType.NON_NEGATIVE_FLOAT,
        "Least time between two progress updateStatus calls to the backend.",
        "1",
    ),
    EnvVar(
        "AGENT_RUNNER_WARMUP",
        "warmup",
        VarType.CHOICE,
        "Once the worker polls, load the agent framework in the background so the first "
        "execution does not wait for it (~3 s); 0 keeps idle memory at its minimum instead.",
        "1",
        choices=("1", "0"),
    ),
    *(
        EnvVar(
            name,
            "",
            VarType.STRING,
            description,
            None,
            secret=name.endswith(("_KEY", "_PASSWORD")),
            inert=True,
            honoured=honoured,
        )
        for name, description, honoured in (
            (
                "STIGMER_EXECUTION_MODE",
                "Upstream's command execution mode; this image always runs the agent's "
                "commands in its own container (local), so the STIGMER_SANDBOX_* settings "
                "are ignored too.",
                ("local",),
            ),
            ("STIGMER_SANDBOX_IMAGE", "Sandbox image for execution mode sandbox.", ()),
            ("STIGMER_SANDBOX_AUTO_PULL", "Pull the sandbox image (mode sandbox).", ()),
            ("STIGMER_SANDBOX_CLEANUP", "Remove sandbox containers (mode sandbox).", ()),
            ("STIGMER_SANDBOX_TTL", "Sandbox container reuse TTL (mode sandbox).", ()),
            ("DAYTONA_API_KEY", "Daytona sandboxes (upstream cloud mode); not used.", ()),
            ("DAYTONA_DEV_TOOLS_SNAPSHOT_ID", "Daytona snapshot (upstream cloud); not used.", ()),
            ("REDIS_HOST", "Redis pub/sub (upstream cloud mode); not used.", ()),
            ("REDIS_PORT", "Redis pub/sub (upstream cloud mode); not used.", ()),
            ("REDIS_PASSWORD", "Redis pub/sub (upstream cloud mode); not used.", ()),
        )
    ),
)

# Sandbox-mode settings the migration-era CLI always passes; they mean nothing unless
# STIGMER_EXECUTION_MODE asks for sandboxes, so they warn only then.
SANDBOX_MODE_VARS: tuple[str, ...] = (
    "STIGMER_SANDBOX_IMAGE",
    "STIGMER_SANDBOX_AUTO_PULL",
    "STIGMER_SANDBOX_CLEANUP",
    "STIGMER_SANDBOX_TTL",
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
        if var.inert:
            desc += " Accepted, not acted on"
            desc += f" (warns unless {' or '.join(var.honoured)})." if var.honoured else "."
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
