"""Timestamps, interleaving and the `logs` command over a fake engine and real files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from build_tools.errors import ConfigError, RuntimeContainerError
from build_tools.runtime.logs import (
    EARLIEST,
    interleave,
    parse_since,
    parse_timestamp,
    split_docker_timestamp,
    stamp_lines,
)
from build_tools.runtime.logs_command import LogsRequest, show_logs
from tests.unit.fakes import FakeHost

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2026-01-01T11:59:00.123456789Z stdout", "2026-01-01T11:59:00.123456+00:00"),
        # The runner's own format: its timestamp leads the line.
        ('2026-01-01T11:59:00.250Z INFO {"msg":"x"}', "2026-01-01T11:59:00.25+00:00"),
        # Other components' JSON lines (--with files) carry it in a field.
        ('{"ts":"2026-01-01T11:59:01.5Z","msg":"x"}', "2026-01-01T11:59:01.5+00:00"),
        ('{"level":"info","time":"2026-01-01T13:00:00+01:00"}', "2026-01-01T12:00:00+00:00"),
        ("2026-01-01 11:59:02,250 INFO worker", "2026-01-01T11:59:02.25+00:00"),
        ("2026-01-01T11:59:03+0200 x", "2026-01-01T09:59:03+00:00"),
    ],
)
def test_parse_timestamp_formats(line: str, expected: str) -> None:
    assert parse_timestamp(line) == at(expected)


@pytest.mark.parametrize("line", ["Traceback (most recent call last):", "{not json", "", "{}"])
def test_lines_without_a_time(line: str) -> None:
    assert parse_timestamp(line) is None


def test_docker_prefix_is_split_off() -> None:
    stamp, rest = split_docker_timestamp('2026-01-01T11:59:00.000000001Z {"a":1}')
    assert stamp == at("2026-01-01T11:59:00+00:00")
    assert rest == '{"a":1}'
    assert split_docker_timestamp("plain line") == (None, "plain line")


def test_since_accepts_durations_and_timestamps() -> None:
    assert parse_since("10m", NOW) == at("2026-01-01T11:50:00+00:00")
    assert parse_since("1.5h", NOW) == at("2026-01-01T10:30:00+00:00")
    assert parse_since("2026-01-01T08:00:00Z", NOW) == at("2026-01-01T08:00:00+00:00")
    with pytest.raises(ConfigError, match="10m, 2h"):
        parse_since("yesterday", NOW)


def test_untimed_lines_inherit_the_previous_time_and_merge_stays_ordered() -> None:
    runner_lines = [
        '2026-01-01T10:00:01.000Z INFO {"msg":"a"}',
        "  traceback line",
        '2026-01-01T10:00:03.000Z ERROR {"msg":"b"}',
    ]
    runner = stamp_lines("agent-runner", runner_lines, docker_prefixed=False)
    server = stamp_lines(
        "server.log", ["banner", "2026-01-01T10:00:02Z started", "2026-01-01T10:00:04Z done"],
        docker_prefixed=False,
    )  # fmt: skip
    temporal = stamp_lines(
        "temporal.log", ['{"level":"info","ts":"2026-01-01T10:00:02.5Z","msg":"t"}'],
        docker_prefixed=False,
    )  # fmt: skip
    sources = [list(runner), list(server), list(temporal)]
    merged = [(line.source, line.text) for line in interleave(sources)]
    assert merged == [
        ("server.log", "banner"),  # before any time: first
        ("agent-runner", '2026-01-01T10:00:01.000Z INFO {"msg":"a"}'),
        ("agent-runner", "  traceback line"),
        ("server.log", "2026-01-01T10:00:02Z started"),
        ("temporal.log", '{"level":"info","ts":"2026-01-01T10:00:02.5Z","msg":"t"}'),
        ("agent-runner", '2026-01-01T10:00:03.000Z ERROR {"msg":"b"}'),
        ("server.log", "2026-01-01T10:00:04Z done"),
    ]
    assert next(iter(stamp_lines("x", ["no time"], docker_prefixed=False))).at == EARLIEST


def run_logs(host: FakeHost, source: str | Path, request: LogsRequest) -> list[str]:
    shown: list[str] = []
    show_logs(host, source, request, now=NOW, sleep=lambda _s: None, emit=shown.append)
    return shown


def test_container_logs_pass_options_to_docker(host: FakeHost) -> None:
    cid = host.docker.container_run(["--name", "runner", "img"], env={})
    host.container_log_lines[cid] = ["one\n", "two\n"]
    request = LogsRequest(follow=True, tail=5, since="10m", timestamps=True)
    assert run_logs(host, "runner", request) == ["one", "two"]
    assert ("container_logs", ("runner", ("--follow", "--tail", "5", "--since", "10m",
                                          "--timestamps"))) in host.calls  # fmt: skip


def test_container_logs_merged_with_files(host: FakeHost, tmp_path: Path) -> None:
    cid = host.docker.container_run(["--name", "runner", "img"], env={})
    host.container_log_lines[cid] = [  # docker's --timestamps stamp, then the runner's line
        '2026-01-01T10:00:01.000000000Z 2026-01-01T10:00:01.000Z INFO {"msg":"starting"}\n',
        '2026-01-01T10:00:03.000000000Z 2026-01-01T10:00:03.000Z INFO {"event":"ready"}\n',
    ]
    server = tmp_path / "stigmer-server.log"
    server.write_text("2026-01-01T10:00:02Z server up\n2026-01-01T10:00:04Z workflow\n")
    shown = run_logs(host, "runner", LogsRequest(tail=3, with_files=(server,)))
    assert shown == [
        "stigmer-server.log | 2026-01-01T10:00:02Z server up",
        'agent-runner       | 2026-01-01T10:00:03.000Z INFO {"event":"ready"}',
        "stigmer-server.log | 2026-01-01T10:00:04Z workflow",
    ]


def test_logs_of_an_absent_container(host: FakeHost) -> None:
    with pytest.raises(RuntimeContainerError, match="no such container"):
        run_logs(host, "runner", LogsRequest())


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (LogsRequest(tail=-1), "negative"),
        (LogsRequest(with_files=(Path("/nonexistent/x.log"),)), "does not exist"),
    ],
)
def test_bad_log_options(host: FakeHost, request_: LogsRequest, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_logs(host, "runner", request_)


def test_file_logs_since_tail_timestamps_and_follow(host: FakeHost, tmp_path: Path) -> None:
    log = tmp_path / "agent-runner.log"
    log.write_text(
        '2026-01-01T11:00:00.000Z INFO {"msg":"old"}\n'
        '2026-01-01T11:55:00.000Z INFO {"msg":"recent"}\n'
        "a line without a time\n"
    )
    request = LogsRequest(since="10m", timestamps=True, follow=True)
    shown: list[str] = []
    appended = {"done": False}

    def sleep(_seconds: float) -> None:
        if appended["done"]:
            raise KeyboardInterrupt  # what Ctrl-C does to --follow
        with log.open("a") as handle:
            handle.write('2026-01-01T11:59:00.000Z INFO {"msg":"new"}\npartial')
        appended["done"] = True

    with pytest.raises(KeyboardInterrupt):
        show_logs(host, log, request, now=NOW, sleep=sleep, emit=shown.append)
    assert shown == [
        '2026-01-01T11:55:00.000000Z 2026-01-01T11:55:00.000Z INFO {"msg":"recent"}',
        "2026-01-01T11:55:00.000000Z a line without a time",
        '2026-01-01T11:59:00.000000Z 2026-01-01T11:59:00.000Z INFO {"msg":"new"}',
    ]


def test_follow_with_files_merges_each_round_and_shows_nothing_twice(
    host: FakeHost, tmp_path: Path
) -> None:
    cid = host.docker.container_run(["--name", "runner", "img"], env={})
    host.container_log_lines[cid] = ["2026-01-01T10:00:01.000000000Z banner\n"]
    server = tmp_path / "server.log"
    server.write_text("2026-01-01T10:00:00Z server up\n")
    shown: list[str] = []
    rounds = {"n": 0}

    def sleep(_seconds: float) -> None:
        rounds["n"] += 1
        if rounds["n"] == 1:  # both sources grow; the fake engine replays its whole log
            host.container_log_lines[cid].append("2026-01-01T10:00:03.000000000Z ready\n")
            with server.open("a") as handle:
                handle.write("2026-01-01T10:00:02Z request\nstack line\n")
        elif rounds["n"] == 3:
            raise KeyboardInterrupt

    request = LogsRequest(follow=True, with_files=(server,))
    with pytest.raises(KeyboardInterrupt):
        show_logs(host, "runner", request, now=NOW, sleep=sleep, emit=shown.append)
    assert shown == [
        "server.log   | 2026-01-01T10:00:00Z server up",
        "agent-runner | banner",
        "server.log   | 2026-01-01T10:00:02Z request",
        "server.log   | stack line",  # takes the time of the line before it, not "earliest"
        "agent-runner | ready",
    ]
    last_call = [c for c in host.calls if c[0] == "container_logs"][-1]
    assert last_call[1][1] == ("--timestamps", "--since", "2026-01-01T10:00:03.000000Z")
