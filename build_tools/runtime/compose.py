"""`docker-compose.yml` for local development, generated from the runtime contract.

The committed file is this function's output; a unit test fails when they differ, and
`python -m build_tools.runtime compose --write` regenerates it.
"""

from __future__ import annotations

import json

from build_tools.runtime.contract_loader import Contract
from build_tools.runtime.spec import (
    LOG_DRIVER,
    LOG_OPTIONS,
    RESTART_POLICY,
    rewrite_loopback,
    stop_seconds_for,
)

COMPOSE_FILE_NAME = "docker-compose.yml"
TEMPORAL_SERVICE = "temporal"
TEMPORAL_PORT = 7233
DEFAULT_DATA_DIR = "./build/stigmer"  # under the project's git-ignored build/ directory
# Variables the lifecycle owns: the workspace is the mount, the readiness file is the image's.
# Temporal is the bundled service, reached by its service name on the compose network.
_OWNED = {"SANDBOX_ROOT_DIR", "AGENT_RUNNER_READY_FILE", "TEMPORAL_SERVICE_ADDRESS"}


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


def compose_environment(contract: Contract) -> list[tuple[str, str]]:
    """Each contract variable (and alias) passes through from the developer's shell (empty
    means unset to the runner), except those the setup owns; URLs default to the Docker host."""
    env: list[tuple[str, str]] = [
        ("SANDBOX_ROOT_DIR", contract.workspace_mount),
        ("TEMPORAL_SERVICE_ADDRESS", f"{TEMPORAL_SERVICE}:{TEMPORAL_PORT}"),
    ]
    for var in contract.env_vars:
        if var.name in _OWNED:
            continue
        for name in var.all_names:
            default = ""
            if str(var.type) == "url" and var.default and name == var.name:
                default = rewrite_loopback(var.default, "url")
            env.append((name, f"${{{name}:-{default}}}"))
    return env


def render_compose(contract: Contract, *, runner_image: str, temporal_image: str) -> str:
    grace = float(contract.env_var("AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS").default or 0)
    stop_grace = stop_seconds_for(grace)
    env_lines = [f"      {name}: {_q(value)}" for name, value in compose_environment(contract)]
    workspace = contract.workspace_mount
    log_lines = [f"        {key}: {_q(value)}" for key, value in LOG_OPTIONS]
    lines = [
        "# Local development: agent-runner + a Temporal dev server.",
        "# GENERATED from agent-runner/src/agent_runner/contract.py by",
        "# `python -m build_tools.runtime compose --write`; do not edit (a test compares).",
        "#",
        "#   mkdir -p build/stigmer/workspace     # git-ignored; or set STIGMER_DATA_DIR",
        "#   AGENT_RUNNER_UID=$(id -u) AGENT_RUNNER_GID=$(id -g) docker compose up -d",
        "#",
        "# Images: AGENT_RUNNER_IMAGE (default: what `nox -s build` loads) and TEMPORAL_IMAGE",
        "# (default: the one `python -m build_tools temporal-image` builds); TEMPORAL_PORT is",
        "# Temporal's port on 127.0.0.1. Any runtime contract variable set in your shell",
        "# reaches the runner; see docs/development.md.",
        "name: stigmer-agent-runner-dev",
        "services:",
        f"  {TEMPORAL_SERVICE}:",
        f"    image: {_q('${TEMPORAL_IMAGE:-' + temporal_image + '}')}",
        "    ports:",
        f"      - {_q(f'127.0.0.1:${{TEMPORAL_PORT:-{TEMPORAL_PORT}}}:{TEMPORAL_PORT}')}",
        "    healthcheck:",
        "      test: ["
        + ", ".join(
            _q(part)
            for part in (
                "CMD",
                "/temporal",
                "operator",
                "cluster",
                "health",
                "--address",
                f"127.0.0.1:{TEMPORAL_PORT}",
            )
        )
        + "]",
        "      interval: 2s",
        "      timeout: 5s",
        "      retries: 30",
        "  agent-runner:",
        f"    image: {_q('${AGENT_RUNNER_IMAGE:-' + runner_image + '}')}",
        "    depends_on:",
        f"      {TEMPORAL_SERVICE}:",
        "        condition: service_healthy",
        "    # As your user, so workspace files belong to you (the image's default otherwise).",
        "    user: "
        + _q(
            f"${{AGENT_RUNNER_UID:-{contract.runtime_uid}}}:"
            f"${{AGENT_RUNNER_GID:-{contract.runtime_gid}}}"
        ),
        "    environment:",
        *env_lines,
        "    volumes:",
        f"      - {_q(f'${{STIGMER_DATA_DIR:-{DEFAULT_DATA_DIR}}}/workspace:{workspace}')}",
        "    extra_hosts:",
        f"      - {_q('host.docker.internal:host-gateway')}",
        f"    restart: {_q(RESTART_POLICY)}",
        f"    stop_grace_period: {stop_grace}s",
        "    logging:",
        f"      driver: {LOG_DRIVER}",
        "      options:",
        *log_lines,
    ]
    return "\n".join(lines) + "\n"
