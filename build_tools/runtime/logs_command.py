"""The `logs` command: the runner's log (container or --no-docker file), optionally
interleaved by timestamp with other components' log files."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from build_tools.errors import ConfigError, RuntimeContainerError
from build_tools.host import Host
from build_tools.runtime.logs import (
    EARLIEST,
    LogLine,
    interleave,
    parse_since,
    render,
    stamp_lines,
    tail,
)

RUNNER_LABEL = "agent-runner"
FOLLOW_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class LogsRequest:
    follow: bool = False
    tail: int | None = None
    since: str | None = None
    timestamps: bool = False
    with_files: tuple[Path, ...] = ()


def _check(request: LogsRequest) -> None:
    if request.tail is not None and request.tail < 0:
        raise ConfigError(f"Reading --tail {request.tail}", "it is negative", "Give N >= 0.")
    for path in request.with_files:
        if not path.is_file():
            raise ConfigError(f"Reading --with {path}", "the file does not exist", "Fix the path.")


def _after(lines: Iterable[LogLine], since: datetime | None) -> Iterator[LogLine]:
    return (line for line in lines if since is None or line.at >= since)


@dataclass
class _FileSource:
    """A growing log file: each read returns the complete lines appended since the last."""

    path: Path
    label: str
    offset: int = 0
    pending: str = ""
    last: datetime = EARLIEST

    def read(self) -> list[LogLine]:
        size = self.path.stat().st_size if self.path.exists() else 0
        if size < self.offset:  # truncated or replaced (a new run): start over
            self.offset, self.pending = 0, ""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read(size - self.offset).decode("utf-8", errors="replace")
        self.offset = size
        *complete, self.pending = (self.pending + chunk).split("\n")
        lines = list(stamp_lines(self.label, complete, docker_prefixed=False, start=self.last))
        self.last = lines[-1].at if lines else self.last
        return lines


@dataclass
class _ContainerSource:
    """`docker logs --timestamps`, then only what is newer than the last line returned."""

    host: Host
    name: str
    since: str | None
    label: str = RUNNER_LABEL
    last: datetime = EARLIEST
    seen_at_last: set[str] = field(default_factory=set)

    def read(self) -> list[LogLine]:
        since = self.since if self.last == EARLIEST else f"{self.last:%Y-%m-%dT%H:%M:%S.%fZ}"
        options = ["--timestamps", *(["--since", since] if since else [])]
        raw = self.host.docker.container_logs(self.name, options)
        fresh = []
        # --since is inclusive and we keep microseconds only: drop what was already shown.
        for line in stamp_lines(self.label, raw, docker_prefixed=True):
            if line.at < self.last or (line.at == self.last and line.text in self.seen_at_last):
                continue
            if line.at > self.last:
                self.last, self.seen_at_last = line.at, set()
            self.seen_at_last.add(line.text)
            fresh.append(line)
        return fresh


def show_logs(
    host: Host,
    source: str | Path,
    request: LogsRequest,
    *,
    now: datetime,
    sleep: Callable[[float], None],
    emit: Callable[[str], None],
) -> None:
    """`source`: a container name, or the --no-docker log file. --follow ends on Ctrl-C."""
    _check(request)
    since = parse_since(request.since, now) if request.since else None
    runner: _FileSource | _ContainerSource
    if isinstance(source, str):
        if host.docker.container_inspect(source) is None:
            raise RuntimeContainerError(
                f"Reading the logs of {source}",
                "no such container exists",
                "Start it (agent-runner-local start); after `stop` its logs are gone.",
            )
        if not request.with_files:
            # docker's own semantics for every option, streamed as it arrives.
            options = ["--follow"] if request.follow else []
            options += ["--tail", str(request.tail)] if request.tail is not None else []
            options += ["--since", request.since] if request.since else []
            options += ["--timestamps"] if request.timestamps else []
            for line in host.docker.container_logs(source, options):
                emit(line.rstrip("\n"))
            return
        runner = _ContainerSource(host, source, request.since)
    else:
        if not source.is_file():
            raise RuntimeContainerError(
                f"Reading {source}", "it does not exist", "Start agent-runner with --no-docker."
            )
        runner = _FileSource(source, RUNNER_LABEL)
    sources = [runner, *(_FileSource(path, path.name) for path in request.with_files)]
    labels = [src.label for src in sources] if request.with_files else []
    width = max((len(label) for label in labels), default=0)
    history = list(interleave([list(_after(src.read(), since)) for src in sources]))
    for entry in tail(history, request.tail):
        emit(render(entry, timestamps=request.timestamps, label_width=width))
    while request.follow:
        sleep(FOLLOW_POLL_SECONDS)
        # Each round's new lines, merged by time across sources (arrival order between rounds).
        for entry in interleave([src.read() for src in sources]):
            emit(render(entry, timestamps=request.timestamps, label_width=width))
