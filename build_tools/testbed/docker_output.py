"""Parsers of docker's output: RFC 3339 timestamps, `logs --timestamps`, `stats` memory.

Pure; shared by the cold-start measurement (`build_tools.testbed.cold_start`) and the fleet
benchmark (`tests/support/fleet_bench.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from build_tools.errors import RuntimeContainerError
from build_tools.runtime.runner_log import LogLineParser, parse_runner_line

_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_SIZE = re.compile(r"^\s*([0-9.]+)\s*([a-zA-Z]+)\s*$")


def parse_timestamp(text: str) -> float:
    """RFC 3339 with nanoseconds, as docker prints it -> POSIX seconds (microseconds kept)."""
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text.strip())
    if not match:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    whole, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(whole + (fraction or "")[:7] + zone.replace("Z", "+00:00"))
    return stamp.timestamp()


def parse_log_lines(
    text: str, parse: LogLineParser | None = None
) -> list[tuple[float, dict[str, Any] | None]]:
    """`docker logs --timestamps` output -> (docker's time, the runner's record or None for
    a line not in the runner's format) per line, in order. `parse` defaults to the
    contract's `parse_log_line`."""
    lines = []
    for raw in text.splitlines():
        stamp, _, rest = raw.partition(" ")
        try:
            when = parse_timestamp(stamp)
        except ValueError:
            continue
        lines.append((when, parse_runner_line(rest, parse)))
    return sorted(lines, key=lambda line: line[0])


def memory_bytes(stats: Mapping[str, Any]) -> int:
    """`docker stats --format '{{json .}}'` -> the container's memory use in bytes."""
    used = str(stats.get("MemUsage", "")).split("/")[0]
    match = _SIZE.match(used)
    if not match or match.group(2).lower() not in _UNITS:
        raise RuntimeContainerError(
            "Reading the container's memory", f"docker stats said {used!r}", "Check the engine."
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def cpu_seconds_of(stats: Mapping[str, Any]) -> float:
    """The engine's container stats (API, not the CLI's table) -> the cgroup's CPU time.

    `cpu_stats.cpu_usage.total_usage` is the cgroup's user + system time in nanoseconds,
    cumulative since the container started (cgroup v1 and v2 alike).
    """
    usage = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
    total = usage.get("total_usage")
    if not isinstance(total, int | float) or isinstance(total, bool):
        raise RuntimeContainerError(
            "Reading a container's CPU time",
            f"its stats carry no cpu_stats.cpu_usage.total_usage ({sorted(stats)[:8]})",
            "Check that the container runs and the engine reports cgroup CPU usage.",
        )
    return total / 1e9
