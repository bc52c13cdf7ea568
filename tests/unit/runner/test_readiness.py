"""Readiness file, healthcheck and log formatting (no processes spawned)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_runner import contract, healthcheck, logs
from agent_runner.readiness import read_ready_pid, remove_ready_file, write_ready_file


def test_write_is_atomic_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ready"
    write_ready_file(path, {"event": "ready", "pid": os.getpid()})
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert [p.name for p in path.parent.iterdir()] == ["ready"]  # no temp leftovers


def test_remove_only_our_own_file(tmp_path: Path) -> None:
    path = tmp_path / "ready"
    write_ready_file(path, {"pid": os.getpid()})
    remove_ready_file(path, os.getpid() + 1)
    assert path.exists()
    remove_ready_file(path, os.getpid())
    assert not path.exists()
    remove_ready_file(path, os.getpid())  # idempotent


@pytest.mark.parametrize("content", ["", "not json", "[]", '{"pid": "1"}', '{"pid": -5}'])
def test_unreadable_content(tmp_path: Path, content: str) -> None:
    path = tmp_path / "ready"
    path.write_text(content)
    assert read_ready_pid(path) is None
    assert healthcheck.check(path)[0] is False


def test_healthcheck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ready"
    monkeypatch.setenv("AGENT_RUNNER_READY_FILE", str(path))
    assert healthcheck.main() == 1
    write_ready_file(path, {"pid": os.getpid()})
    assert healthcheck.main() == 0
    # A PID that cannot exist (beyond pid_max) is not alive.
    write_ready_file(path, {"pid": 2**22 + 1})
    assert healthcheck.main() == 1


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("INFO")
    logging.getLogger("agent_runner.test").info("hello", extra={"thread_id": "t", "n": 1})
    logging.getLogger("agent_runner.test").debug("hidden")
    logs.emit_event({"event": "ready", "pid": 1})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    record = contract.parse_log_line(lines[0])
    assert record is not None
    assert record["msg"] == "hello"
    assert record["thread_id"] == "t"
    assert record["level"] == "INFO"
    assert record["logger"] == "agent_runner.test"
    ready = contract.parse_log_line(lines[1])
    assert ready is not None
    assert {k: ready[k] for k in ("event", "pid", "level")} == {
        "event": "ready",
        "pid": 1,
        "level": "INFO",
    }
    # Every line starts with the timestamp the Stigmer CLI's log merger orders by.
    assert all(line[:4].isdigit() and line[10] == "T" for line in lines)
