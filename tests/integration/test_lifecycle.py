"""The manual checklist of `stigmer server start`, automated: real Docker, real Temporal.

Every step runs the real command line (`python -m build_tools.runtime`) in a subprocess,
as a maintainer or the Stigmer CLI would. Each test has its own data dir and a container
name with a unique suffix; finalizers remove whatever a failed test left behind.
(Over 400 lines: the checklist is one story, step by step, and reads in order.)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from build_tools.config import ToolConfig, load_config
from build_tools.docker import require_local_image
from build_tools.host import real_host
from build_tools.runtime.contract_loader import Contract, read_contract
from build_tools.runtime.process_mode import read_state
from build_tools.runtime.spec import id_file
from tests.integration.conftest import BuiltImage
from tests.support.temporal_server import TemporalDevServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE_VARIABLE = "AGENT_RUNNER_SMOKE_IMAGE"  # the same override the smoke tests honour
READY_LINE = re.compile(r"agent-runner is ready: .*cold start (?P<seconds>[0-9.]+) s")


@pytest.fixture(scope="module")
def contract() -> Contract:
    return read_contract(PROJECT_ROOT)


@pytest.fixture(scope="module")
def tool_config() -> ToolConfig:
    return load_config(PROJECT_ROOT, os.environ)


@pytest.fixture(scope="module")
def runner_image(request: pytest.FixtureRequest) -> str:
    """$AGENT_RUNNER_SMOKE_IMAGE (an already built image, for quick iteration), else the
    session's freshly built image (tests/integration/conftest.py `built_image`)."""
    override = os.environ.get(IMAGE_VARIABLE)
    if override:
        require_local_image(real_host(os.environ).docker, override)  # "build it", not a pull
        return override
    built: BuiltImage = request.getfixturevalue("built_image")
    return built.local_ref


@pytest.fixture(scope="module")
def temporal() -> Iterator[TemporalDevServer]:
    """A real Temporal dev server on a free loopback port (the container uses host networking)."""
    with TemporalDevServer() as server:
        yield server


def clean_environ(contract: Contract) -> dict[str, str]:
    """This environment without runtime-contract variables from the developer's shell."""
    names = {name for var in contract.env_vars for name in var.all_names}
    return {k: v for k, v in os.environ.items() if k not in names}


@dataclass
class Local:
    """`agent-runner-local` bound to one data dir and container name."""

    data_dir: Path
    name: str
    environ: dict[str, str]
    common: list[str] = field(default_factory=list)

    def __call__(
        self, *args: str, environ: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), env=environ or self.environ, cwd=PROJECT_ROOT, capture_output=True,
            text=True, timeout=180, check=False,
        )  # fmt: skip

    def argv(self, command: str, *rest: str) -> list[str]:
        return [sys.executable, "-m", "build_tools.runtime", command, "--data-dir",
                str(self.data_dir), "--name", self.name, *self.common, *rest]  # fmt: skip

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, (
            f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
        return result.stdout

    def status(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.ok("status", "--json"))
        return report


def docker_names(name: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "--all", "--filter", f"name=^{name}$", "--format", "{{.Names}}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.split()


@pytest.fixture
def local(
    tmp_path: Path, contract: Contract, temporal: TemporalDevServer, runner_image: str
) -> Iterator[Local]:
    name = f"{contract.container_name}-test-{uuid.uuid4().hex[:8]}"
    tool = Local(tmp_path / "data", name, clean_environ(contract))
    tool.common = []
    yield tool
    subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)


def start_args(runner_image: str, temporal: TemporalDevServer) -> list[str]:
    return ["--image", runner_image, "--pull", "never",
            "--env", f"TEMPORAL_SERVICE_ADDRESS={temporal.address}",
            "--env", "AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS=5"]  # fmt: skip


def test_start_status_logs_stop_start_keeps_the_workspace(
    local: Local, runner_image: str, temporal: TemporalDevServer, tool_config: ToolConfig
) -> None:
    args = start_args(runner_image, temporal)
    started = local.ok("start", *args)
    match = READY_LINE.search(started)
    assert match, started
    print(f"measured cold start via start: {match['seconds']} s")  # shown with -s
    assert 0 < float(match["seconds"]) < tool_config.budgets.cold_start_seconds

    status = local.status()
    assert status["state"] == "running"
    assert status["poller_registered"] is True, status
    assert status["healthy"] is True
    assert status["temporal"] == "reachable"
    assert status["id"] == id_file(local.data_dir).read_text().strip()
    assert status["image"] == runner_image
    assert status["digest"].startswith("sha256:")
    assert status["uptime_seconds"] >= 0

    logs = local.ok("logs")
    assert "agent-runner starting" in logs  # the banner
    assert '"event":"ready"' in logs
    assert len(local.ok("logs", "--tail", "1").splitlines()) == 1
    check_logs_with_another_component(local)

    # Files the runner writes in the workspace belong to the user who ran `start`.
    subprocess.run(["docker", "exec", local.name, "touch", "/workspace/kept"], check=True)
    kept = local.data_dir / "workspace" / "kept"
    assert kept.stat().st_uid == os.getuid()

    assert "already running" in local.ok("start", *args)
    assert local.status()["id"] == status["id"]

    assert "stopped and removed" in local.ok("stop")
    assert docker_names(local.name) == []
    assert not id_file(local.data_dir).exists()
    assert local.status()["state"] == "absent"

    # start/stop/start: no name conflict, and the workspace survives.
    local.ok("start", *args)
    assert local.status()["poller_registered"] is True
    assert kept.is_file()
    local.ok("stop")
    local.ok("start", *args)
    local.ok("stop")
    assert docker_names(local.name) == []


def check_logs_with_another_component(local: Local) -> None:
    """`--with` interleaves a file by time; `--follow` keeps merging until Ctrl-C."""
    other = local.data_dir.parent / "stigmer-server.log"
    other.write_text(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ} server listening\n")
    merged = local.ok("logs", "--with", str(other)).splitlines()
    assert merged[-1] == f"stigmer-server.log | {other.read_text().strip()}"  # newest last
    assert any(line.startswith("agent-runner       | ") for line in merged)

    follow = subprocess.Popen(
        local.argv("logs", "--follow", "--tail", "0", "--with", str(other)),
        env=local.environ, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(2)
        with other.open("a") as handle:
            handle.write(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ} workflow started\n")
        time.sleep(2)
        follow.send_signal(signal.SIGINT)  # what Ctrl-C does
        out, _ = follow.communicate(timeout=20)
    finally:
        follow.kill()
    assert follow.returncode == 0
    assert "stigmer-server.log | " in out
    assert out.rstrip().endswith("workflow started")


def test_restart_replaces_the_running_container(
    local: Local, runner_image: str, temporal: TemporalDevServer
) -> None:
    args = start_args(runner_image, temporal)
    local.ok("start", *args)
    first = local.status()["id"]
    local.ok("start", "--restart", *args)
    second = local.status()
    assert second["id"] != first
    assert second["state"] == "running"
    local.ok("restart", *args)
    assert local.status()["id"] not in {first, second["id"]}
    local.ok("stop")


@pytest.mark.parametrize("flavor", ["supervisor", "cli-migration"])
def test_upstream_argv_starts_a_ready_runner_and_stops_it_within_dockers_default(
    local: Local, runner_image: str, temporal: TemporalDevServer, flavor: str
) -> None:
    """Upstream Stigmer's own `docker run` (no --user, no --stop-timeout, its environment),
    with only the image, name and paths substituted: the runner is ready and its poller
    registered, and a plain `docker stop` (10 s) stops it gracefully."""
    environ = {**local.environ, "TEMPORAL_SERVICE_ADDRESS": temporal.address}
    options = ["--upstream-argv", flavor, "--image", runner_image, "--pull", "never"]
    started = local("start", *options, environ=environ)
    assert started.returncode == 0, started.stdout + started.stderr
    assert READY_LINE.search(started.stdout), started.stdout
    status = json.loads(local("status", "--json", environ=environ).stdout)
    assert status["poller_registered"] is True, status
    assert status["id"] == id_file(local.data_dir).read_text().strip()
    assert id_file(local.data_dir).name == "agent-runner-container.id"
    inspect = subprocess.run(
        ["docker", "container", "inspect", local.name], capture_output=True, text=True, check=True
    )
    (container,) = json.loads(inspect.stdout)
    assert container["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert container["HostConfig"]["NetworkMode"] == "host"
    assert container["Config"].get("StopTimeout") is None
    assert "LOG_LEVEL=DEBUG" in container["Config"]["Env"]
    assert (local.data_dir / "workspace").is_dir()
    began = time.monotonic()
    assert "stopped and removed" in local.ok("stop")
    assert time.monotonic() - began < 10, "the runner was killed, not stopped"
    assert docker_names(local.name) == []


def test_stale_id_file_and_container_removed_behind_our_back(
    local: Local, runner_image: str, temporal: TemporalDevServer
) -> None:
    local.data_dir.mkdir(parents=True)
    id_file(local.data_dir).write_text("0" * 64 + "\n")  # names no container
    args = start_args(runner_image, temporal)
    local.ok("start", *args)
    assert local.status()["id_file_state"] == "matches"

    subprocess.run(["docker", "rm", "--force", local.name], check=True, capture_output=True)
    status = local.status()
    assert status["state"] == "absent"
    assert status["id_file_state"] == "stale"
    assert "nothing to stop" in local.ok("stop")
    assert not id_file(local.data_dir).exists()
    local.ok("start", *args)  # and it starts again cleanly
    local.ok("stop")


def test_start_resolves_a_version_from_the_registry_with_each_pull_policy(
    local: Local, built_image: BuiltImage, temporal: TemporalDevServer
) -> None:
    """As the CLI of version X: `<registry>/<image>:X`, pulled when missing."""
    registry, _, repository = built_image.pushed_ref.partition("/")
    image, _, version = repository.rpartition(":")
    environ = {**local.environ, "AGENT_RUNNER_BUILD_REGISTRY": registry,
               "AGENT_RUNNER_BUILD_IMAGE": image}  # fmt: skip
    subprocess.run(
        ["docker", "image", "rm", built_image.pushed_ref], capture_output=True, check=False
    )
    options = ["--version", version, "--env", f"TEMPORAL_SERVICE_ADDRESS={temporal.address}"]

    never = local("start", *options, "--pull", "never", environ=environ)
    assert never.returncode == 11, never.stderr
    assert "the pull policy is never" in never.stderr
    assert docker_names(local.name) == []

    pulled = local("start", *options, environ=environ)  # --pull missing, the default
    assert pulled.returncode == 0, pulled.stderr
    status = json.loads(local("status", "--json", environ=environ).stdout)
    assert status["image"] == built_image.pushed_ref
    assert status["digest"] == built_image.digest  # the pushed index, by digest
    assert status["requested_version"] == version
    assert status["version"] == built_image.version  # what the image says it is
    assert status["poller_registered"] is True

    always = local("start", "--restart", *options, "--pull", "always", environ=environ)
    assert always.returncode == 0, always.stderr
    local.ok("stop")


def test_docker_binary_missing(local: Local, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = local("status", environ={**local.environ, "PATH": str(empty)})
    assert result.returncode == 3, result.stderr
    assert "Finding Docker failed because the docker command is not on PATH" in result.stderr
    assert "Install Docker Engine" in result.stderr


def test_docker_daemon_down(local: Local, tmp_path: Path) -> None:
    dead = f"unix://{tmp_path / 'dead.sock'}"
    result = local("start", "--image", "x", environ={**local.environ, "DOCKER_HOST": dead})
    assert result.returncode == 4, result.stderr
    assert "Contacting the Docker engine failed because it is not running" in result.stderr
    assert "sudo systemctl start docker" in result.stderr
    assert not (local.data_dir / "workspace").exists()  # nothing half-done


@pytest.fixture
def no_docker(tmp_path: Path, contract: Contract) -> Iterator[Local]:
    tool = Local(tmp_path / "data", "unused", clean_environ(contract), ["--no-docker"])
    yield tool
    state = read_state(tool.data_dir)
    if state is not None:  # a failed test: do not leave a runner behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(state["pid"], signal.SIGKILL)


def test_no_docker_with_a_missing_interpreter_exits_11(no_docker: Local, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-python")
    result = no_docker("start", "--python", missing, "--timeout", "5")
    assert result.returncode == 11, result.stderr
    assert result.stderr.startswith(f"agent-runner-local: Starting {missing} failed because")
    assert "--python" in result.stderr
    assert "Traceback" not in result.stderr
    assert read_state(no_docker.data_dir) is None  # nothing half-done


def test_no_docker_mode_passes_the_same_checklist(
    no_docker: Local, temporal: TemporalDevServer, tool_config: ToolConfig
) -> None:
    args = ["--env", f"TEMPORAL_SERVICE_ADDRESS={temporal.address}",
            "--env", "AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS=5"]  # fmt: skip
    started = no_docker.ok("start", *args)
    match = READY_LINE.search(started)
    assert match, started
    print(f"measured cold start via start --no-docker: {match['seconds']} s")  # shown with -s
    assert 0 < float(match["seconds"]) < tool_config.budgets.cold_start_seconds
    status = no_docker.status()
    assert status["state"] == "running"
    assert status["poller_registered"] is True, status
    assert "agent-runner starting" in no_docker.ok("logs")
    assert "already running" in no_docker.ok("start", *args)

    kept = no_docker.data_dir / "workspace" / "kept"
    kept.write_text("x")
    assert "stopped" in no_docker.ok("stop")
    assert no_docker.status()["state"] == "absent"
    no_docker.ok("start", *args)
    no_docker.ok("stop")
    assert kept.is_file()

    # A state file whose process is gone (killed, rebooted) is stale, not running.
    no_docker.ok("start", *args)
    state = read_state(no_docker.data_dir)
    assert state is not None
    os.kill(state["pid"], signal.SIGKILL)
    assert no_docker.status()["state"] == "stopped"
    no_docker.ok("start", *args)  # replaces the stale state
    no_docker.ok("stop")


def test_compose_file_resolves_to_the_contract(contract: Contract) -> None:
    """`docker compose config` (compose's own parser) sees the contract's variables."""
    result = subprocess.run(
        ["docker", "compose", "-f", "docker-compose.yml", "config", "--format", "json"],
        cwd=PROJECT_ROOT, env={**clean_environ(contract), "LOG_LEVEL": "DEBUG"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    services = json.loads(result.stdout)["services"]
    runner = services["agent-runner"]
    env = runner["environment"]
    assert env["SANDBOX_ROOT_DIR"] == contract.workspace_mount
    assert env["TEMPORAL_SERVICE_ADDRESS"] == "temporal:7233"
    assert env["LOG_LEVEL"] == "DEBUG"  # from the shell
    assert env["TASK_QUEUE"] == ""  # unset: empty, which the runner treats as unset
    assert runner["volumes"][0]["target"] == contract.workspace_mount
    assert runner["depends_on"]["temporal"]["condition"] == "service_healthy"


def test_compose_up_runs_temporal_and_a_healthy_runner(
    contract: Contract, runner_image: str, tool_config: ToolConfig, tmp_path: Path
) -> None:
    """The dev setup for real: Temporal healthy, then the runner healthy (its HEALTHCHECK
    passes only once Temporal lists its poller), with the workspace from the data dir."""
    from build_tools.testbed.temporal_image import ensure_temporal_image
    from tests.support.temporal_server import free_port

    temporal_image = ensure_temporal_image(tool_config, real_host(os.environ), log=sys.stderr)
    (tmp_path / "workspace").mkdir()
    project = f"agent-runner-compose-test-{uuid.uuid4().hex[:8]}"
    environ = {
        **clean_environ(contract),
        "TEMPORAL_IMAGE": temporal_image,
        "AGENT_RUNNER_IMAGE": runner_image,
        "TEMPORAL_PORT": str(free_port()),
        "STIGMER_DATA_DIR": str(tmp_path),
        "AGENT_RUNNER_UID": str(os.getuid()),
        "AGENT_RUNNER_GID": str(os.getgid()),
    }
    compose = ["docker", "compose", "-p", project, "-f", str(PROJECT_ROOT / "docker-compose.yml")]
    try:
        up = subprocess.run(
            [*compose, "up", "--detach", "--wait", "--wait-timeout", "120"],
            env=environ, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        logs = subprocess.run(
            [*compose, "logs", "agent-runner"], env=environ, capture_output=True, text=True,
            check=False,
        ).stdout  # fmt: skip
        assert up.returncode == 0, up.stderr + logs
        assert '"event":"ready"' in logs
        assert '"TEMPORAL_SERVICE_ADDRESS":"temporal:7233"' in logs
        subprocess.run(
            [*compose, "exec", "agent-runner", "touch", f"{contract.workspace_mount}/from-compose"],
            env=environ, check=True, capture_output=True,
        )  # fmt: skip
        assert (tmp_path / "workspace" / "from-compose").stat().st_uid == os.getuid()
    finally:
        subprocess.run([*compose, "down", "--timeout", "10"], env=environ, capture_output=True,
                       check=False)  # fmt: skip
