"""start / stop / status of the agent-runner container, exactly as the Stigmer CLI runs it.

Everything goes through the `Host`; time comes from a `Clock` so tests control it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from build_tools.errors import ConfigError, RuntimeContainerError
from build_tools.host import Host
from build_tools.process import CommandResult
from build_tools.runtime.contract_loader import Contract
from build_tools.runtime.logs import parse_timestamp
from build_tools.runtime.runner_log import find_record
from build_tools.runtime.spec import (
    DOCKER_STOP_DEFAULT_SECONDS,
    LABEL_PREFIX,
    ContainerPlan,
    id_file,
)

PULL_POLICIES = ("missing", "always", "never")
POLL_SECONDS = 0.1
PROBE_SOURCE = Path(__file__).with_name("probe.py")

_INSTALL = {
    "Linux": "Install Docker Engine for your distribution (Debian/Ubuntu: "
    "`sudo apt-get install docker.io`; others: https://docs.docker.com/engine/install/)",
    "Darwin": "Install Docker Desktop for Mac (https://docs.docker.com/desktop/setup/install/"
    "mac-install/ or `brew install --cask docker`) and open it once",
    "Windows": "Install Docker Desktop for Windows with the WSL 2 backend "
    "(https://docs.docker.com/desktop/setup/install/windows-install/ or "
    "`winget install Docker.DockerDesktop`)",
}
_START = {
    "Linux": "Start the engine (`sudo systemctl start docker`, or `sudo service docker start` "
    "without systemd) and make sure your user may use it (`sudo usermod -aG docker $USER`, "
    "then log in again), or point DOCKER_HOST at a running engine",
    "Darwin": "Start Docker Desktop (`open -a Docker`) and wait until it reports running, "
    "or point DOCKER_HOST at a running engine",
    "Windows": "Start Docker Desktop from the Start menu and wait until it reports running, "
    "or point DOCKER_HOST at a running engine",
}
_NO_DOCKER_HINT = " (or run agent-runner from source with --no-docker)"


@dataclass(frozen=True)
class Clock:
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def check_docker(host: Host, os_name: str) -> None:
    """Docker missing -> DockerMissingError (3); engine not answering -> DockerDaemonError (4)."""
    host.docker.ensure(
        install_fix=f"{_INSTALL.get(os_name, _INSTALL['Linux'])}, then retry{_NO_DOCKER_HINT}.",
        start_fix=f"{_START.get(os_name, _START['Linux'])}, then retry{_NO_DOCKER_HINT}.",
    )


def ensure_image(host: Host, ref: str, policy: str) -> None:
    """Apply the pull policy: missing (pull if absent), always, never (must be local)."""
    if policy not in PULL_POLICIES:
        raise ConfigError(
            f"Reading --pull {policy!r}", "it is unknown", "Use missing|always|never."
        )
    if policy == "always":
        host.docker.image_pull(ref)
        return
    if host.docker.image_inspect(ref) is not None:
        return
    if policy == "never":
        raise RuntimeContainerError(
            f"Finding image {ref}",
            "it is not in the local engine and the pull policy is never",
            "Build it (nox -s build), pass --image, or use --pull missing.",
        )
    host.docker.image_pull(ref)


def find_container(host: Host, name: str, data_dir: Path) -> dict[str, Any] | None:
    """Our container: the one the id file names, else (stale or missing file) by name."""
    path = id_file(data_dir)
    recorded = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if recorded:
        container = host.docker.container_inspect(recorded)
        # Only trust the id if it is still our container (ids are never reused, names are).
        if container is not None and container.get("Name") == f"/{name}":
            return container
    return host.docker.container_inspect(name)


def _remove(host: Host, container: dict[str, Any], data_dir: Path) -> None:
    # A container started without --stop-timeout (upstream's argv) gets docker's default.
    timeout = container.get("Config", {}).get("StopTimeout") or DOCKER_STOP_DEFAULT_SECONDS
    host.docker.container_stop(container["Id"], timeout_seconds=int(timeout))
    host.docker.container_remove(container["Id"])
    id_file(data_dir).unlink(missing_ok=True)


def wait_ready(
    host: Host, container_id: str, contract: Contract, *, timeout: float, clock: Clock
) -> dict[str, Any]:
    """Poll the container's log for the contract's ready line; fail fast if it exits."""
    deadline = clock.monotonic() + timeout
    while True:
        lines = list(host.docker.container_logs(container_id, ()))
        ready = find_record(lines, event=contract.ready_event)
        if ready is not None:
            return ready
        state = (host.docker.container_inspect(container_id) or {}).get("State", {})
        if not state.get("Running", False):
            code = int(state.get("ExitCode", -1))
            raise RuntimeContainerError(
                "Starting agent-runner",
                f"the container exited with {code} "
                f"({contract.exit_codes.get(code, 'unknown')}) before it was ready; last log: "
                + " | ".join(line.strip() for line in lines[-3:]),
                "Fix the cause in the log (`agent-runner-local logs`), then start again.",
            )
        if clock.monotonic() > deadline:
            raise RuntimeContainerError(
                "Starting agent-runner",
                f"it did not report ready within {timeout:g} s (is Temporal reachable?)",
                "It is still running and retrying: read `agent-runner-local logs`, "
                "or `agent-runner-local stop`.",
            )
        clock.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class StartResult:
    container_id: str
    already_running: bool
    cold_start_seconds: float | None
    ready: dict[str, Any] | None


def start(
    host: Host,
    contract: Contract,
    plan: ContainerPlan,
    *,
    data_dir: Path,
    pull_policy: str,
    replace: bool,
    timeout: float,
    clock: Clock,
    log: IO[str],
) -> StartResult:
    """Run the container and wait until it is ready; an already running one is kept
    (its id re-recorded) unless `replace`."""
    existing = find_container(host, plan.name, data_dir)
    if existing is not None and existing["State"].get("Running") and not replace:
        id_file(data_dir).write_text(existing["Id"] + "\n", encoding="utf-8")
        return StartResult(existing["Id"], True, None, None)
    # Before touching the running one: a failed pull must leave it as it was.
    ensure_image(host, plan.image, pull_policy)
    if existing is not None:
        # A running one being replaced, or a stopped leftover whose name would clash.
        log.write(f"removing previous container {existing['Id'][:12]}\n")
        _remove(host, existing, data_dir)
    for directory in plan.host_dirs:
        # Created by us, not by the engine, so the directory belongs to the user.
        directory.mkdir(parents=True, exist_ok=True)
    started = clock.monotonic()
    container_id = host.docker.container_run(plan.args, env=dict(plan.secret_env))
    id_file(data_dir).write_text(container_id + "\n", encoding="utf-8")
    ready = wait_ready(host, container_id, contract, timeout=timeout, clock=clock)
    return StartResult(container_id, False, clock.monotonic() - started, ready)


def stop(host: Host, name: str, data_dir: Path) -> str | None:
    """Stop and remove our container; the id file goes too. Returns the id it removed."""
    container = find_container(host, name, data_dir)
    if container is None:
        id_file(data_dir).unlink(missing_ok=True)
        return None
    _remove(host, container, data_dir)
    return str(container["Id"])


def _uptime(started_at: str, now: datetime) -> float | None:
    stamp = parse_timestamp(started_at)
    return round((now - stamp).total_seconds(), 1) if stamp is not None else None


def probe_runner(run: Callable[[Sequence[str]], CommandResult], python: str) -> dict[str, Any]:
    """Health, readiness and this runner's pollers, asked from the runner's own environment
    (`run` runs an argv there: `docker exec` in the container, or a local process)."""
    source = PROBE_SOURCE.read_text(encoding="utf-8")
    result = run([python, "-c", source])
    try:
        answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (result.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return answer


def poller_summary(answer: dict[str, Any]) -> dict[str, Any]:
    ready = answer.get("ready") or {}
    pollers = answer.get("pollers")
    registered = None if pollers is None else ready.get("identity") in pollers
    return {
        "healthy": answer.get("healthy"),
        "temporal": answer.get("temporal", answer.get("error")),
        "task_queue": answer.get("task_queue"),
        "identity": ready.get("identity"),
        "poller_registered": registered,
    }


def status(
    host: Host, contract: Contract, name: str, data_dir: Path, clock: Clock
) -> dict[str, Any]:
    container = find_container(host, name, data_dir)
    path = id_file(data_dir)
    recorded = path.read_text(encoding="utf-8").strip() if path.is_file() else None
    report: dict[str, Any] = {"mode": "docker", "name": name, "id_file": str(path)}
    if container is None:
        report["state"] = "absent"
        report["id_file_state"] = "stale" if recorded else "missing"
        return report
    state = container.get("State", {})
    running = bool(state.get("Running"))
    labels = container.get("Config", {}).get("Labels") or {}
    image_id = str(container.get("Image", ""))
    # None: removed (or re-tagged away) since the container started.
    image = host.docker.image_inspect(image_id) or {}
    digests = image.get("RepoDigests") or []
    image_labels = (image.get("Config") or {}).get("Labels") or {}
    report |= {
        "state": "running" if running else "stopped",
        "id": container["Id"],
        "id_file_state": "matches" if recorded == container["Id"] else "stale or missing",
        "image": container.get("Config", {}).get("Image"),
        "image_id": image_id,
        "digest": digests[0].rpartition("@")[2] if digests else None,
        # What the image says it is, and what `start` was asked for.
        "version": image_labels.get("org.opencontainers.image.version"),
        "requested_version": labels.get(f"{LABEL_PREFIX}.version"),
        "started_at": state.get("StartedAt"),
        "uptime_seconds": _uptime(str(state.get("StartedAt", "")), clock.now())
        if running
        else None,
        "exit_code": None if running else state.get("ExitCode"),
        "docker_health": (state.get("Health") or {}).get("Status"),
    }
    if running:
        # The image's own interpreter (its entrypoint's), which surely exists in it.
        entrypoint = container.get("Config", {}).get("Entrypoint") or [contract.python]
        container_id = str(container["Id"])
        answer = probe_runner(
            lambda argv: host.docker.container_exec(container_id, argv), str(entrypoint[0])
        )
        report |= poller_summary(answer)
    return report
