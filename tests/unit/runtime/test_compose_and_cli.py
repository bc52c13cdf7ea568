"""The generated docker-compose.yml, and the command line's wiring and exit codes."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from build_tools.host import CommandResult
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
    assert f"source={tmp_path}/.stigmer/workspace" in text
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
    assert "STIGMER_LLM_API_KEY=***" in text
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
