from __future__ import annotations

import io
from collections.abc import Mapping
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from build_tools import errors
from build_tools.cli import run
from build_tools.host import Host
from tests.unit.fakes import FakeHost


def test_every_error_kind_has_a_distinct_exit_code() -> None:
    table = errors.exit_code_table()
    assert len(set(table.values())) == len(table)
    assert table["BuildToolsError"] == 1
    assert all(code != 0 for code in table.values())


def test_message_reads_what_because_fix() -> None:
    error = errors.RegistryError("Pushing x", "the registry said 500", "Retry later.")
    assert str(error) == "Pushing x failed because the registry said 500. Retry later."


def test_cli_maps_errors_to_one_line_and_exit_code(tmp_path: Path) -> None:
    def host_factory(_environ: Mapping[str, str]) -> Host:
        return FakeHost()

    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = run(
            ["build", "--dry-run"],
            {"AGENT_RUNNER_BUILD_PLATFORMS": "linux/mips"},
            host_factory,
            project_root=tmp_path,
        )
    assert code == errors.ConfigError.exit_code
    lines = stderr.getvalue().strip().splitlines()
    assert len(lines) == 1
    assert "AGENT_RUNNER_BUILD_PLATFORMS" in lines[0]


def test_cli_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as caught, redirect_stderr(io.StringIO()):
        run(["no-such-command"], {})
    assert caught.value.code == 2
