"""Upstream Stigmer's `docker run` of agent-runner, as literal test data.

Written from upstream's source (github.com/stigmer/stigmer), argument by argument, in its
order, for a default configuration (nothing set in the environment, provider ollama):

- SUPERVISOR_*: `startAgentRunner` in
  backend/services/stigmer-server/pkg/supervisor/supervisor.go at b070f18, with the values
  of `loadSupervisorConfig` (backend/services/stigmer-server/pkg/server/server.go) and the
  server's gRPC port default 7234 (pkg/config/config.go);
- CLI_MIGRATION_*: `startAgentRunner` in client-apps/cli/internal/cli/daemon/daemon.go at
  ad28b48, with the defaults of its config package (client-apps/cli/internal/cli/config).

Upstream runs `docker` with these arguments; the placeholders are what it computes at run
time: {workspace} = <data dir>/workspace, {logs} = <data dir>/logs, {image} = the image.
`_LINUX` lists are for Linux (host network); `_DESKTOP` for macOS/Windows, where upstream
drops `--network host` and rewrites localhost (cli-migration also 127.0.0.1) to
host.docker.internal. The image names are upstream's (ghcr.io/stigmer/agent-runner:latest
for the supervisor, stigmer-agent-runner:local for cli-migration).
"""

from __future__ import annotations

SUPERVISOR_IMAGE = "ghcr.io/stigmer/agent-runner:latest"
CLI_MIGRATION_IMAGE = "stigmer-agent-runner:local"

SUPERVISOR_LINUX = [
    "run", "-d",
    "--name", "stigmer-agent-runner",
    "--restart", "unless-stopped",
    "--network", "host",
    "-e", "MODE=local",
    "-e", "STIGMER_BACKEND_ENDPOINT=localhost:7234",
    "-e", "TEMPORAL_SERVICE_ADDRESS=localhost:7233",
    "-e", "TEMPORAL_NAMESPACE=default",
    "-e", "TASK_QUEUE=agent_execution_runner",
    "-e", "SANDBOX_TYPE=filesystem",
    "-e", "WORKSPACE_ROOT=/workspace",
    "-e", "LOG_LEVEL=DEBUG",
    "-e", "STIGMER_LLM_PROVIDER=ollama",
    "-e", "STIGMER_LLM_MODEL=qwen2.5-coder:14b",
    "-e", "STIGMER_LLM_BASE_URL=http://localhost:11434",
    "-e", "OLLAMA_BASE_URL=http://localhost:11434",
    "-v", "{workspace}:/workspace",
    "-v", "{logs}:/logs",
    "{image}",
]  # fmt: skip

SUPERVISOR_DESKTOP = [
    "run", "-d",
    "--name", "stigmer-agent-runner",
    "--restart", "unless-stopped",
    "-e", "MODE=local",
    "-e", "STIGMER_BACKEND_ENDPOINT=host.docker.internal:7234",
    "-e", "TEMPORAL_SERVICE_ADDRESS=host.docker.internal:7233",
    "-e", "TEMPORAL_NAMESPACE=default",
    "-e", "TASK_QUEUE=agent_execution_runner",
    "-e", "SANDBOX_TYPE=filesystem",
    "-e", "WORKSPACE_ROOT=/workspace",
    "-e", "LOG_LEVEL=DEBUG",
    "-e", "STIGMER_LLM_PROVIDER=ollama",
    "-e", "STIGMER_LLM_MODEL=qwen2.5-coder:14b",
    "-e", "STIGMER_LLM_BASE_URL=http://host.docker.internal:11434",
    "-e", "OLLAMA_BASE_URL=http://host.docker.internal:11434",
    "-v", "{workspace}:/workspace",
    "-v", "{logs}:/logs",
    "{image}",
]  # fmt: skip

CLI_MIGRATION_LINUX = [
    "run", "-d",
    "--name", "stigmer-agent-runner",
    "--restart", "unless-stopped",
    "--network", "host",
    "-e", "MODE=local",
    "-e", "STIGMER_BACKEND_ENDPOINT=localhost:7234",
    "-e", "TEMPORAL_SERVICE_ADDRESS=localhost:7233",
    "-e", "TEMPORAL_NAMESPACE=default",
    "-e", "TASK_QUEUE=agent_execution_runner",
    "-e", "SANDBOX_TYPE=filesystem",
    "-e", "WORKSPACE_ROOT=/workspace",
    "-e", "LOG_LEVEL=DEBUG",
    "-e", "STIGMER_LLM_PROVIDER=ollama",
    "-e", "STIGMER_LLM_MODEL=qwen2.5-coder:7b",
    "-e", "STIGMER_LLM_BASE_URL=http://localhost:11434",
    "-e", "OLLAMA_BASE_URL=http://localhost:11434",
    "-e", "STIGMER_EXECUTION_MODE=local",
    "-e", "STIGMER_SANDBOX_IMAGE=ghcr.io/stigmer/agent-sandbox-basic:latest",
    "-e", "STIGMER_SANDBOX_AUTO_PULL=true",
    "-e", "STIGMER_SANDBOX_CLEANUP=true",
    "-e", "STIGMER_SANDBOX_TTL=3600",
    "-v", "{workspace}:/workspace",
    "-v", "/var/run/docker.sock:/var/run/docker.sock",
    "--log-driver", "json-file",
    "--log-opt", "max-size=10m",
    "--log-opt", "max-file=3",
    "{image}",
]  # fmt: skip

CLI_MIGRATION_DESKTOP = [
    "run", "-d",
    "--name", "stigmer-agent-runner",
    "--restart", "unless-stopped",
    "-e", "MODE=local",
    "-e", "STIGMER_BACKEND_ENDPOINT=host.docker.internal:7234",
    "-e", "TEMPORAL_SERVICE_ADDRESS=host.docker.internal:7233",
    "-e", "TEMPORAL_NAMESPACE=default",
    "-e", "TASK_QUEUE=agent_execution_runner",
    "-e", "SANDBOX_TYPE=filesystem",
    "-e", "WORKSPACE_ROOT=/workspace",
    "-e", "LOG_LEVEL=DEBUG",
    "-e", "STIGMER_LLM_PROVIDER=ollama",
    "-e", "STIGMER_LLM_MODEL=qwen2.5-coder:7b",
    "-e", "STIGMER_LLM_BASE_URL=http://host.docker.internal:11434",
    "-e", "OLLAMA_BASE_URL=http://host.docker.internal:11434",
    "-e", "STIGMER_EXECUTION_MODE=local",
    "-e", "STIGMER_SANDBOX_IMAGE=ghcr.io/stigmer/agent-sandbox-basic:latest",
    "-e", "STIGMER_SANDBOX_AUTO_PULL=true",
    "-e", "STIGMER_SANDBOX_CLEANUP=true",
    "-e", "STIGMER_SANDBOX_TTL=3600",
    "-v", "{workspace}:/workspace",
    "-v", "/var/run/docker.sock:/var/run/docker.sock",
    "--log-driver", "json-file",
    "--log-opt", "max-size=10m",
    "--log-opt", "max-file=3",
    "{image}",
]  # fmt: skip

# Where each client puts an API key: the supervisor after the fixed environment (before the
# volumes), cli-migration after the log options (just before the image). Upstream writes
# `-e KEY=VALUE`; this project passes `-e KEY` with the value in docker's environment.
SUPERVISOR_SECRETS_BEFORE = "-v"
CLI_MIGRATION_SECRETS_BEFORE = "{image}"
