"""Log lines from several components, merged by timestamp (pure functions)."""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from build_tools.errors import ConfigError

# RFC 3339 at the start of a line: the runner's own lines ("<ts> <LEVEL> {...}"), docker's
# --timestamps prefix (nanoseconds), most loggers; also "YYYY-MM-DD HH:MM:SS,mmm" (Python
# logging's default format).
_LEADING = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>[.,]\d+)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
# Other components' JSON lines (`--with` files: Temporal's "ts", zerolog's "time") carry
# their time in a field instead.
_JSON_KEYS = ("ts", "time", "timestamp", "@timestamp")
_DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)(?P<unit>[smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Lines before a source's first timestamp sort first.
EARLIEST = datetime.min.replace(tzinfo=UTC)


def parse_timestamp(text: str) -> datetime | None:
    """The instant a log line starts with (or, for a JSON line, its ts/time field), in UTC."""
    match = _LEADING.match(text)
    if match is None and text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            return None
        value = next(
            (record[k] for k in _JSON_KEYS if isinstance(record, dict) and k in record), None
        )
        return parse_timestamp(value) if isinstance(value, str) else None
    if match is None:
        return None
    micros = (match["frac"] or ".0")[1:7].ljust(6, "0")  # datetime holds microseconds
    zone = match["tz"] or "Z"
    zone = "+00:00" if zone == "Z" else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    stamp = datetime.fromisoformat(f"{match['date']}T{match['time']}.{micros}{zone}")
    return stamp.astimezone(UTC)


def split_docker_timestamp(line: str) -> tuple[datetime | None, str]:
    """`docker logs --timestamps` prefixes each line with an RFC 3339 stamp and a space."""
    head, sep, rest = line.partition(" ")
    stamp = parse_timestamp(head) if sep else None
    return (stamp, rest) if stamp is not None else (None, line)


def parse_since(text: str, now: datetime) -> datetime:
    """`--since` as docker takes it: a duration ago (90s, 10m, 2h, 1d) or a timestamp."""
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(seconds=float(match["n"]) * _UNITS[match["unit"]])
    stamp = parse_timestamp(text.strip())
    if stamp is None:
        raise ConfigError(
            f"Reading --since {text!r}",
            "it is neither a duration nor a timestamp",
            "Use e.g. 10m, 2h, 1d or 2026-01-31T12:00:00Z.",
        )
    return stamp


@dataclass(frozen=True)
class LogLine:
    at: datetime
    source: str
    text: str


def stamp_lines(
    source: str, lines: Iterable[str], *, docker_prefixed: bool, start: datetime = EARLIEST
) -> Iterator[LogLine]:
    """Give every line a time: its own, else the previous line's (tracebacks, banners);
    `start` is the time of the line before the first (when reading a file in pieces)."""
    last = start
    for raw in lines:
        line = raw.rstrip("\n")
        if docker_prefixed:
            stamp, line = split_docker_timestamp(line)
        else:
            stamp = parse_timestamp(line)
        last = stamp or last
        yield LogLine(last, source, line)


def interleave(sources: Sequence[Iterable[LogLine]]) -> Iterator[LogLine]:
    """One stream ordered by time; equal times keep the sources' order (stable)."""
    return heapq.merge(*sources, key=lambda line: line.at)


def tail(lines: Sequence[LogLine], count: int | None) -> Sequence[LogLine]:
    return lines if count is None else lines[-count:] if count > 0 else []


def render(line: LogLine, *, timestamps: bool, label_width: int) -> str:
    label = f"{line.source:<{label_width}} | " if label_width else ""
    stamp = ""
    if timestamps:
        stamp = "-" if line.at == EARLIEST else line.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        stamp += " "
    return f"{stamp}{label}{line.text}"
