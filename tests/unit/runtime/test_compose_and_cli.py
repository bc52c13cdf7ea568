"""The generated docker-compose.yml, and the command line's wiring and exit codes."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from build_tools.process import CommandResult
from build_tools.runtime.cli import Machine, run
from build_tools.runtime.compose import COMPOSE_FILE_NAME, compose_environment
from build_tools.runtime.contract_loader import Contract
from tests.unit.fakes import FakeHost
from tests.unit.runtime.conftest import PROJECT_ROOT, FakeTime


def machine(tmp_path: Path, os_name: str = "Linux", **environ: str) -> Machine:
    return Machine(
        environ={"PATH": "/bin", **environ}, os_name=os_name, uid=1000, gid=1000,
        home=tmp_path, python="/venv/bin/python",
    )  # fmt: skip


def cli(argv: list[str], mach: Machine, host: FakeHost, fake_time: FakeTime) -> tuple[int, str]:
    out = io.StringIO()
    code = run(argv, mach, host_factory=lambda _env: host, clock=fake_time.clock(), out=out)
    return code, out.getvalue()


def test_committed_compose_file_is_the_generated_one(
    host: FakeHost, tmp_path: Path, fake_time: FakeTime
) -> None:
    code, text = cli(["compose"], machine(tmp_path), host, fake_time)
    assert code == 0
    committed = (PROJECT_ROOT / COMPOSE_FILE_NAME).read_text(encoding="utf-8")
    assert committed == text, "regenerate: python -m build_tools.runtime compose --write"


def test_compose_covers_every_contract_variable(contract: Contract) -> None:
    env = dict(compose_environment(contract))
    for var in contract.env_vars:
        if var.name == "AGENT_RUNNER_READY_FILE":
            assert var.name not in env  # the image's own path
            continue
        assert var.name in env
    assert env["SANDBOX_ROOT_DIR"] == contract.workspace_mount
    assert env["TEMPORAL_SERVICE_ADDRESS"] == "temporal:7233"
    assert env["TASK_QUEUE"] == "${TASK_QUEUE:-}"  # aliases pass through; the runner decides
    assert env["OLLAMA_BASE_URL"] == "${OLLAMA_BASE_URL:-http://host.docker.internal:11434}"
    text = (PROJECT_ROOT / COMPOSE_FILE_NAME).read_text(encoding="utf-8")
    assert f"{contract.runtime_uid}}}:${{AGENT_RUNNER_GID:-{contract.runtime_gid}" in text
    assert f'/workspace:{contract.workspace_mount}"' in text


def test_start_dry_run_prints_docker_run_and_touches_nothing(
    host: FakeHost, tmp_path: Path, fake_time: FakeTime
) -> None:
    code, text = cli(
        ["start", "--dry-run", "--version", "9.9.9", "--env", "LOG_LEVEL=DEBUG"],
        machine(tmp_path, STIGMER_LLM_API_KEY="sk-secret"), host, fake_time,
    )  # fmt: skip
    assert code == 0
    assert text.startswith("docker run --detach --name stigmer-agent-runner --user 1000:1000 ")
    assert "--env LOG_LEVEL=DEBUG" in text
    assert "--env STIGMER_LLM_API_KEY " in text
    assert "sk-secret" not in text
    assert text.rstrip().endswith("ghcr.io/stigmer/agent-runner:9.9.9")
    assert f"source={tmp_path}/.stigmer/data/workspace" in text  # upstream's data dir
    assert host.calls == []
    assert not (tmp_path / ".stigmer").exists()


def test_no_docker_dry_run_masks_secrets(
    host: FakeHost, tmp_path: Path, fake_time: FakeTime
) -> None:
    code, text = cli(
        ["start", "--no-docker", "--dry-run", "--data-dir", str(tmp_path / "d")],
        machine(tmp_path, ANTHROPIC_API_KEY="sk-secret"), host, fake_time,
    )  # fmt: skip
    assert code == 0
    assert "ANTHROPIC_API_KEY=***" in text
    assert "sk-secret" not in text
    assert "/venv/bin/python -m agent_runner" in text


@pytest.mark.parametrize(
    ("host_", "expected"),
    [
        (FakeHost(programs=set()), 3),
        (FakeHost(commands={"docker version": CommandResult((), 1, "", "daemon down")}), 4),
    ],
)
@pytest.mark.parametrize("command", ["start", "stop", "status", "logs"])
def test_docker_unavailable_exit_codes(
    host_: FakeHost, expected: int, command: str, tmp_path: Path, fake_time: FakeTime,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    code, _ = cli([command, "--data-dir", str(tmp_path)], machine(tmp_path), host_, fake_time)
    assert code == expected
    assert re.match(r"agent-runner-local: \w.* failed because .+\. .+", capsys.readouterr().err)


def test_status_json_and_unknown_env_name(
    host: FakeHost, tmp_path: Path, fake_time: FakeTime
) -> None:
    code, text = cli(["status", "--json", "--data-dir", str(tmp_path)], machine(tmp_path), host,
                     fake_time)  # fmt: skip
    assert code == 0
    assert json.loads(text)["state"] == "absent"
    code, _ = cli(["start", "--env", "NOPE=1"], machine(tmp_path), host, fake_time)
    assert code == 2


def test_stop_when_nothing_runs_is_fine(
    host: FakeHost, tmp_path: Path, fake_time: FakeTime
) -> None:
    code, text = cli(["stop", "--data-dir", str(tmp_path), "--name", "x"], machine(tmp_path),
                     host, fake_time)  # fmt: skip
    assert code == 0
    assert "nothing to stop" in text


def test_start_with_upstream_argv_dry_run_prints_upstreams_docker_run(
    host: FakeHost, tmp_path: Path, fake_time: FakeTime
) -> None:
    code, text = cli(
        ["start", "--dry-run", "--upstream-argv", "supervisor", "--image", "img:1"],
        machine(tmp_path, "Darwin", OPENAI_API_KEY="sk-secret"), host, fake_time,
    )  # fmt: skip
    assert code == 0
    data = tmp_path / ".stigmer" / "data"
    assert text.startswith("docker run -d --name stigmer-agent-runner --restart unless-stopped -e ")
    assert "-e TEMPORAL_SERVICE_ADDRESS=host.docker.internal:7233 " in text
    assert f"-e OPENAI_API_KEY -v {data}/workspace:/workspace -v {data}/logs:/logs img:1" in text
    assert "sk-secret" not in text
    assert host.calls == []


def test_start_with_upstream_argv_runs_it_and_records_the_id_in_the_data_dir(
    host: FakeHost, tmp_path: Path, fake_time: FakeTime
) -> None:
    host.local_images["img:1"] = {}

    def ready() -> None:
        newest = max(host.containers)
        host.container_log_lines[newest] = [
            '2026-01-01T00:00:10.400Z INFO {"event":"ready","identity":"r@h","startup_seconds":1}'
        ]

    fake_time.on_sleep.append(ready)
    argv = ["start", "--upstream-argv", "cli-migration", "--image", "img:1"]
    code, text = cli(argv, machine(tmp_path), host, fake_time)
    assert code == 0, text
    assert "agent-runner is ready" in text
    (run,) = [call[1] for call in host.calls if call[0] == "container_run"]
    assert run[0][:5] == ("-d", "--name", "stigmer-agent-runner", "--restart", "unless-stopped")
    assert "/var/run/docker.sock:/var/run/docker.sock" in run[0]
    id_file = tmp_path / ".stigmer" / "data" / "agent-runner-container.id"
    assert id_file.read_text().strip() == max(host.containers)


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--env", "LOG_LEVEL=INFO"], "upstream's argv has no such option"),
     (["--no-docker"], "upstream's argv starts a container")],
)  # fmt: skip
def test_upstream_argv_refuses_options_upstream_lacks(
    host: FakeHost, tmp_path: Path, fake_time: FakeTime, extra: list[str], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    argv = ["start", "--dry-run", "--upstream-argv", "supervisor", *extra]
    code, _ = cli(argv, machine(tmp_path), host, fake_time)
    assert code == 2
    assert message in capsys.readouterr().err
