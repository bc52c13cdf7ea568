"""start / stop / status against a fake engine: readiness, conflicts, stale state."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from build_tools.errors import (
    DockerDaemonError,
    DockerMissingError,
    RegistryError,
    RuntimeContainerError,
)
from build_tools.process import CommandResult
from build_tools.runtime import docker_mode
from build_tools.runtime.contract_loader import Contract
from build_tools.runtime.spec import ContainerPlan, container_plan, id_file, make_run_spec
from build_tools.runtime.upstream import SUPERVISOR, plan_upstream
from tests.unit.fakes import FakeHost
from tests.unit.runtime.conftest import FakeTime

IMAGE = "reg/agent-runner:1.2.3"
READY = {"event": "ready", "identity": "agent-runner-1@h", "pid": 1, "startup_seconds": 0.4}
# The runner's line format: "<UTC timestamp> <LEVEL> <JSON object>".
BANNER = '2026-01-01T00:00:10.100Z INFO {"logger":"agent_runner","msg":"agent-runner starting"}'
READY_LINE = "2026-01-01T00:00:10.400Z INFO " + json.dumps(READY, separators=(",", ":"))


def plan_for(
    contract: Contract, data_dir: Path, name: str = "stigmer-agent-runner"
) -> ContainerPlan:
    return container_plan(
        make_run_spec(
            contract, image=IMAGE, name=name, os_name="Linux", uid=1000, gid=1000,
            data_dir=data_dir, version="1.2.3", environ={}, overrides={},
        )
    )  # fmt: skip


def become_ready_after(
    host: FakeHost, fake_time: FakeTime, sleeps: int, lines: tuple[str, ...] = (BANNER, READY_LINE)
) -> None:
    """The newest container logs `lines` (the banner and the ready line) after `sleeps` polls."""
    count = {"n": 0}

    def hook() -> None:
        count["n"] += 1
        if count["n"] == sleeps:
            newest = max(host.containers)
            host.container_log_lines[newest] += [line + "\n" for line in lines]

    fake_time.on_sleep.append(hook)


def do_start(
    host: FakeHost,
    contract: Contract,
    data_dir: Path,
    fake_time: FakeTime,
    plan: ContainerPlan | None = None,
    **kw: object,
) -> docker_mode.StartResult:
    options: dict[str, object] = {"pull_policy": "missing", "replace": False, "timeout": 10.0}
    options.update(kw)
    return docker_mode.start(
        host, contract, plan or plan_for(contract, data_dir), data_dir=data_dir,
        clock=fake_time.clock(), log=io.StringIO(), **options,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("os_name", "install_hint"),
    [("Linux", "apt-get install docker.io"), ("Darwin", "Docker Desktop for Mac"),
     ("Windows", "Docker Desktop for Windows")],
)  # fmt: skip
def test_docker_binary_missing_gives_install_steps_for_the_os(
    os_name: str, install_hint: str
) -> None:
    with pytest.raises(DockerMissingError, match=install_hint) as caught:
        docker_mode.check_docker(FakeHost(programs=set()), os_name)
    assert caught.value.exit_code == 3
    assert "--no-docker" in str(caught.value)


@pytest.mark.parametrize(
    ("os_name", "start_hint"),
    [("Linux", "sudo systemctl start docker"), ("Darwin", "open -a Docker"),
     ("Windows", "Start Docker Desktop")],
)  # fmt: skip
def test_daemon_down_says_how_to_start_it(os_name: str, start_hint: str) -> None:
    down = CommandResult((), 1, "", "Cannot connect to the Docker daemon at unix:///x.sock.\n")
    host = FakeHost(commands={"docker version": down})
    with pytest.raises(DockerDaemonError, match=start_hint) as caught:
        docker_mode.check_docker(host, os_name)
    assert caught.value.exit_code == 4
    assert "unix:///x.sock" in str(caught.value)


def test_start_pulls_a_missing_image_runs_and_waits_for_the_ready_line(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.pullable.add(IMAGE)
    become_ready_after(host, fake_time, sleeps=3)
    result = do_start(host, contract, tmp_path, fake_time)
    assert ("image_pull", IMAGE) in host.calls
    assert not result.already_running
    assert result.ready == {"ts": "2026-01-01T00:00:10.400Z", "level": "INFO", **READY}
    assert result.cold_start_seconds == pytest.approx(3 * docker_mode.POLL_SECONDS)
    assert id_file(tmp_path).read_text().strip() == result.container_id
    assert (tmp_path / "workspace").is_dir()  # made by us, so owned by the user


def test_only_a_ready_line_in_the_runners_format_counts(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images[IMAGE] = {}
    not_ready = (
        json.dumps(READY),  # bare JSON: not the runner's format
        "Traceback (most recent call last):",
        '2026-01-01T00:00:10.200Z INFO {"event":"readyish"}',
        "2026-01-01T00:00:10.300Z INFO not json",
    )
    become_ready_after(host, fake_time, sleeps=1, lines=not_ready)
    become_ready_after(host, fake_time, sleeps=4, lines=(READY_LINE,))
    result = do_start(host, contract, tmp_path, fake_time)
    assert result.cold_start_seconds == pytest.approx(4 * docker_mode.POLL_SECONDS)
    assert result.ready is not None
    assert result.ready["identity"] == READY["identity"]


def test_the_upstream_supervisor_argv_runs_as_planned_and_stops_with_dockers_default(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images[IMAGE] = {}
    upstream = plan_upstream(
        SUPERVISOR, image=IMAGE, data_dir=tmp_path, os_name="Linux",
        environ={"ANTHROPIC_API_KEY": "sk-1"},
    )  # fmt: skip
    become_ready_after(host, fake_time, sleeps=1)
    result = do_start(host, contract, tmp_path, fake_time, plan=upstream)
    runs = [call[1] for call in host.calls if call[0] == "container_run"]
    assert runs == [(upstream.args, {"ANTHROPIC_API_KEY": "sk-1"})]
    assert (tmp_path / "workspace").is_dir()
    assert (tmp_path / "logs").is_dir()
    assert id_file(tmp_path) == tmp_path / "agent-runner-container.id"
    assert id_file(tmp_path).read_text().strip() == result.container_id
    # No --stop-timeout in upstream's argv: docker's (and upstream's) default 10 s.
    assert docker_mode.stop(host, "stigmer-agent-runner", tmp_path) == result.container_id
    assert ("container_stop", (result.container_id, 10)) in host.calls


def test_pull_policy_never_refuses_an_absent_image(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    with pytest.raises(RuntimeContainerError, match="pull policy is never"):
        do_start(host, contract, tmp_path, fake_time, pull_policy="never")
    assert not host.containers
    assert not id_file(tmp_path).exists()


def test_pull_policy_always_pulls_a_present_image(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images[IMAGE] = {}
    host.pullable.add(IMAGE)
    become_ready_after(host, fake_time, sleeps=1)
    do_start(host, contract, tmp_path, fake_time, pull_policy="always")
    assert ("image_pull", IMAGE) in host.calls


def test_container_exiting_before_ready_reports_the_contract_exit_name(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images[IMAGE] = {}

    def crash() -> None:
        newest = host.containers[max(host.containers)]
        newest["State"].update(Running=False, Status="exited", ExitCode=78)
        host.container_log_lines[newest["Id"]] = ["agent-runner: LOG_LEVEL='x' is invalid\n"]

    fake_time.on_sleep.append(crash)
    with pytest.raises(RuntimeContainerError, match="exited with 78 \\(config_invalid\\)") as err:
        do_start(host, contract, tmp_path, fake_time)
    assert "LOG_LEVEL='x' is invalid" in str(err.value)
    assert err.value.exit_code == 11


def test_readiness_timeout_leaves_the_container_and_says_what_to_do(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images[IMAGE] = {}
    with pytest.raises(RuntimeContainerError, match="within 2 s"):
        do_start(host, contract, tmp_path, fake_time, timeout=2.0)
    assert fake_time.now_mono == pytest.approx(102.1)
    assert len(host.containers) == 1  # still retrying; `logs` and `stop` handle it


def test_already_running_is_reported_and_restart_replaces_it(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images[IMAGE] = {}
    become_ready_after(host, fake_time, sleeps=1)
    first = do_start(host, contract, tmp_path, fake_time)
    again = do_start(host, contract, tmp_path, fake_time)
    assert again.already_running
    assert again.container_id == first.container_id
    become_ready_after(host, fake_time, sleeps=1)
    replaced = do_start(host, contract, tmp_path, fake_time, replace=True)
    assert not replaced.already_running
    assert list(host.containers) == [replaced.container_id]
    assert ("container_stop", (first.container_id, 10)) in host.calls


def test_stopped_leftover_with_our_name_is_removed_before_start(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images[IMAGE] = {}
    leftover = host.docker.container_run(["--name", "stigmer-agent-runner", IMAGE], env={})
    host.containers[leftover]["State"].update(Running=False, Status="exited")
    become_ready_after(host, fake_time, sleeps=1)
    result = do_start(host, contract, tmp_path, fake_time)
    assert leftover not in host.containers
    assert result.container_id in host.containers


def test_stop_removes_container_and_id_file(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images[IMAGE] = {}
    become_ready_after(host, fake_time, sleeps=1)
    started = do_start(host, contract, tmp_path, fake_time)
    assert docker_mode.stop(host, "stigmer-agent-runner", tmp_path) == started.container_id
    assert not host.containers
    assert not id_file(tmp_path).exists()
    assert docker_mode.stop(host, "stigmer-agent-runner", tmp_path) is None  # idempotent


def test_stale_id_file_falls_back_to_the_name(host: FakeHost, tmp_path: Path) -> None:
    running = host.docker.container_run(["--name", "stigmer-agent-runner", IMAGE], env={})
    id_file(tmp_path).write_text("f" * 64 + "\n")  # a container that no longer exists
    assert docker_mode.stop(host, "stigmer-agent-runner", tmp_path) == running
    assert not id_file(tmp_path).exists()


def test_id_file_naming_someone_elses_container_is_not_trusted(
    host: FakeHost, tmp_path: Path
) -> None:
    other = host.docker.container_run(["--name", "unrelated", IMAGE], env={})
    id_file(tmp_path).write_text(other)
    assert docker_mode.stop(host, "stigmer-agent-runner", tmp_path) is None
    assert other in host.containers


def test_container_removed_behind_our_back(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    gone = host.docker.container_run(["--name", "stigmer-agent-runner", IMAGE], env={})
    id_file(tmp_path).write_text(gone)
    host.docker.container_remove(gone)
    report = docker_mode.status(host, contract, "stigmer-agent-runner", tmp_path, fake_time.clock())
    assert report["state"] == "absent"
    assert report["id_file_state"] == "stale"
    assert docker_mode.stop(host, "stigmer-agent-runner", tmp_path) is None
    assert not id_file(tmp_path).exists()


def test_status_of_a_running_container(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    cid = host.docker.container_run(
        ["--name", "stigmer-agent-runner", "--label", "org.stigmer.agent-runner.version=1.2.3",
         IMAGE], env={},
    )  # fmt: skip
    host.containers[cid]["Config"]["Entrypoint"] = ["python3", "-m", "agent_runner"]
    id_file(tmp_path).write_text(cid + "\n")
    host.local_images[host.containers[cid]["Image"]] = {
        "RepoDigests": ["reg/a@sha256:" + "9" * 64],
        "Config": {"Labels": {"org.opencontainers.image.version": "1.2.3+build"}},
    }
    probe = {"healthy": True, "ready": READY, "pollers": ["other", READY["identity"]],
             "temporal": "reachable", "task_queue": "q"}  # fmt: skip
    host.commands[f"docker exec {cid} python3 -c"] = CommandResult((), 0, json.dumps(probe), "")
    report = docker_mode.status(host, contract, "stigmer-agent-runner", tmp_path, fake_time.clock())
    assert report["state"] == "running"
    assert report["id"] == cid
    assert report["id_file_state"] == "matches"
    assert report["image"] == IMAGE
    assert report["digest"] == "sha256:" + "9" * 64
    assert report["version"] == "1.2.3+build"
    assert report["requested_version"] == "1.2.3"
    assert report["uptime_seconds"] == 10.0
    assert report["healthy"] is True
    assert report["poller_registered"] is True


def test_status_when_temporal_is_unreachable_does_not_claim_a_poller(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    cid = host.docker.container_run(["--name", "stigmer-agent-runner", IMAGE], env={})
    probe = {"healthy": False, "ready": None, "pollers": None, "temporal": "unreachable: x"}
    host.commands[f"docker exec {cid} python3 -c"] = CommandResult((), 0, json.dumps(probe), "")
    report = docker_mode.status(host, contract, "stigmer-agent-runner", tmp_path, fake_time.clock())
    assert report["poller_registered"] is None
    assert report["temporal"] == "unreachable: x"


def test_status_of_a_stopped_container_shows_its_exit_code(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    cid = host.docker.container_run(["--name", "stigmer-agent-runner", IMAGE], env={})
    host.containers[cid]["State"].update(Running=False, Status="exited", ExitCode=69)
    report = docker_mode.status(host, contract, "stigmer-agent-runner", tmp_path, fake_time.clock())
    assert report["state"] == "stopped"
    assert report["exit_code"] == 69
    assert "poller_registered" not in report


def test_failed_pull_leaves_the_running_container_alone(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images[IMAGE] = {}
    become_ready_after(host, fake_time, sleeps=1)
    first = do_start(host, contract, tmp_path, fake_time)
    with pytest.raises(RegistryError, match="Pulling"):
        do_start(host, contract, tmp_path, fake_time, replace=True, pull_policy="always")
    assert list(host.containers) == [first.container_id]
    assert host.containers[first.container_id]["State"]["Running"]
