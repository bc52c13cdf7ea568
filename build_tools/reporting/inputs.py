"""The JSON reports the toolchain writes, read and checked into frozen dataclasses.

Every file is `build_tools.report.to_json`'s shape (title, rows, notes, details). Which
ones are read, and from whose writer:
  image-size.json  build's size gate (build_tools/image/size.py `size_report`)
  startup.json     cold start and idle memory (build_tools/testbed/cold_start.py)
  fleet.json       the replica benchmark (build_tools/testbed/fleet.py)
  bench.json       build times (build_tools/image/bench.py)
  benchmark.json   first/second execution and memory, when a benchmark writes it
A missing file is None (that section is skipped); a file that is not this shape is a
ConfigError (exit 2) naming the file and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.errors import ConfigError
from build_tools.image.size import readable_step

SIZE_FILE = "image-size.json"
STARTUP_FILE = "startup.json"
FLEET_FILE = "fleet.json"
BENCH_FILE = "bench.json"
BENCHMARK_FILE = "benchmark.json"
# The cold-start phases (the keys of each run in startup.json), in cold_start.py's order.
PHASES = (
    ("started", "container started"),
    ("first_log", "first log line"),
    ("connected", "temporal connected"),
    ("poller_visible", "poller visible"),
    ("ready_line", "ready line"),
)


@dataclass(frozen=True)
class Figure:
    """One row of a report: a measured value with its unit and, when gated, its budget."""

    metric: str
    scope: str
    value: float | None  # None: the writer had no number (NaN in the JSON)
    unit: str
    budget: float | None
    status: str


@dataclass(frozen=True)
class Layer:
    digest: str
    step: str  # the Dockerfile line that made it
    unpacked_bytes: int
    compressed_bytes: int


@dataclass(frozen=True)
class PlatformSize:
    platform: str
    unpacked_bytes: int
    compressed_bytes: int
    layers: tuple[Layer, ...]

    def largest(self) -> tuple[Layer, ...]:
        return tuple(sorted(self.layers, key=lambda layer: layer.unpacked_bytes, reverse=True))


@dataclass(frozen=True)
class SizeReport:
    ref: str
    budget_mb: float | None
    platforms: tuple[PlatformSize, ...]


@dataclass(frozen=True)
class Phase:
    key: str
    label: str
    seconds: tuple[float, ...]  # one per run that reached the phase


@dataclass(frozen=True)
class StartupReport:
    title: str
    platform: str
    runs: int
    phases: tuple[Phase, ...]  # only phases some run reached
    floors: tuple[float, ...]
    idle_memory_mb: tuple[float, ...]
    cold_start_budget: float | None
    memory_budget: float | None


@dataclass(frozen=True)
class FleetPoint:
    replicas: int
    per_second: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    idle_mb: tuple[float, ...]  # per replica
    peak_mb: tuple[float, ...]


@dataclass(frozen=True)
class FleetReport:
    title: str
    points: tuple[FleetPoint, ...]  # by replica count


@dataclass(frozen=True)
class RowsReport:
    """A report read only for its rows (build times, the execution benchmark)."""

    title: str
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class ReportSet:
    directory: Path
    size: SizeReport | None
    startup: StartupReport | None
    fleet: FleetReport | None
    bench: RowsReport | None
    benchmark: RowsReport | None

    @property
    def empty(self) -> bool:
        return not any((self.size, self.startup, self.fleet, self.bench, self.benchmark))


# -- checked access to the parsed JSON --------------------------------------------------------


class _Reader:
    """Field access that turns a wrong shape into one ConfigError naming file and field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, problem: str) -> ConfigError:
        return ConfigError(
            f"Reading report {self.path}",
            f"{field} {problem}",
            "Regenerate it with the nox session that writes it, or remove it.",
        )

    def mapping(self, value: Any, field: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(field, "is not an object")
        return value

    def sequence(self, value: Any, field: str) -> Sequence[Any]:
        if not isinstance(value, list):
            raise self.fail(field, "is not a list")
        return value

    def text(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise self.fail(field, "is not a string")
        return value

    def number(self, value: Any, field: str) -> float | None:
        """A number; None for null and NaN (what the writers leave when they had none)."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"is {value!r}, not a number")
        return float(value) if math.isfinite(value) else None

    def required(self, value: Any, field: str) -> float:
        number = self.number(value, field)
        if number is None:
            raise self.fail(field, "is missing")
        return number


def _load(path: Path) -> tuple[_Reader, Mapping[str, Any]] | None:
    if not path.is_file():
        return None
    reader = _Reader(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise reader.fail("the file", f"is not JSON ({str(error).splitlines()[0]})") from None
    return reader, reader.mapping(document, "the document")


def _figures(reader: _Reader, document: Mapping[str, Any]) -> tuple[Figure, ...]:
    figures = []
    for index, raw in enumerate(reader.sequence(document.get("rows"), "rows")):
        where = f"rows[{index}]"
        row = reader.mapping(raw, where)
        figures.append(
            Figure(
                metric=reader.text(row.get("metric"), f"{where}.metric"),
                scope=reader.text(row.get("scope"), f"{where}.scope"),
                value=reader.number(row.get("value"), f"{where}.value"),
                unit=reader.text(row.get("unit"), f"{where}.unit"),
                budget=reader.number(row.get("budget"), f"{where}.budget"),
                status=reader.text(row.get("status", "info"), f"{where}.status"),
            )
        )
    return tuple(figures)


def _details(reader: _Reader, document: Mapping[str, Any]) -> Mapping[str, Any]:
    return reader.mapping(document.get("details"), "details")


def _title(reader: _Reader, document: Mapping[str, Any]) -> str:
    return reader.text(document.get("title"), "title")


# -- one reader per report ----------------------------------------------------------------------


def read_size(path: Path) -> SizeReport | None:
    loaded = _load(path)
    if loaded is None:
        return None
    reader, document = loaded
    details = _details(reader, document)
    platforms = []
    for index, raw in enumerate(reader.sequence(details.get("platforms"), "details.platforms")):
        where = f"details.platforms[{index}]"
        entry = reader.mapping(raw, where)
        layers = []
        for number, raw_layer in enumerate(reader.sequence(entry.get("layers"), f"{where}.layers")):
            at = f"{where}.layers[{number}]"
            layer = reader.mapping(raw_layer, at)
            layers.append(
                Layer(
                    digest=reader.text(layer.get("digest"), f"{at}.digest"),
                    step=readable_step(
                        reader.text(layer.get("created_by", ""), f"{at}.created_by")
                    ),
                    unpacked_bytes=int(reader.required(layer.get("unpacked_bytes"), at)),
                    compressed_bytes=int(reader.required(layer.get("compressed_bytes"), at)),
                )
            )
        platforms.append(
            PlatformSize(
                platform=reader.text(entry.get("platform"), f"{where}.platform"),
                unpacked_bytes=int(reader.required(entry.get("unpacked_bytes"), where)),
                compressed_bytes=int(reader.required(entry.get("compressed_bytes"), where)),
                layers=tuple(layers),
            )
        )
    return SizeReport(
        ref=reader.text(details.get("ref", ""), "details.ref"),
        budget_mb=reader.number(details.get("budget_mb"), "details.budget_mb"),
        platforms=tuple(platforms),
    )


def _budget(figures: Sequence[Figure], metric: str) -> float | None:
    return next((figure.budget for figure in figures if figure.metric == metric), None)


def read_startup(path: Path) -> StartupReport | None:
    loaded = _load(path)
    if loaded is None:
        return None
    reader, document = loaded
    figures = _figures(reader, document)
    details = _details(reader, document)
    runs = [
        reader.mapping(run, f"details.runs[{index}]")
        for index, run in enumerate(reader.sequence(details.get("runs"), "details.runs"))
    ]
    if not runs:
        raise reader.fail("details.runs", "is empty")

    def column(key: str) -> tuple[float, ...]:
        values = (reader.number(run.get(key), f"details.runs[].{key}") for run in runs)
        return tuple(value for value in values if value is not None)

    phases = tuple(Phase(key, label, column(key)) for key, label in PHASES if column(key))
    floors = tuple(
        reader.required(value, f"details.floors[{index}]")
        for index, value in enumerate(reader.sequence(details.get("floors", []), "details.floors"))
    )
    return StartupReport(
        title=_title(reader, document),
        platform=figures[0].scope if figures else "",
        runs=len(runs),
        phases=phases,
        floors=floors,
        idle_memory_mb=column("idle_memory_mb"),
        cold_start_budget=_budget(figures, "cold start (median)"),
        memory_budget=_budget(figures, "idle memory (median)"),
    )


def _replica_count(reader: _Reader, scope: str) -> int | None:
    """`N=3` -> 3; `N=3 replica 2` and `all` -> None (per-replica and overall rows)."""
    if not scope.startswith("N=") or " " in scope:
        return None
    try:
        return int(scope[2:])
    except ValueError:
        raise reader.fail(f"the scope {scope!r}", "is not N=<count>") from None


def read_fleet(path: Path) -> FleetReport | None:
    loaded = _load(path)
    if loaded is None:
        return None
    reader, document = loaded
    figures = _figures(reader, document)
    counts = sorted(
        {n for figure in figures if (n := _replica_count(reader, figure.scope)) is not None}
    )

    def value(metric: str, scope: str) -> float | None:
        found = [f.value for f in figures if f.metric == metric and f.scope == scope]
        return found[0] if found else None

    def per_replica(metric: str, count: int) -> tuple[float, ...]:
        prefix = f"N={count} replica "
        values = (f.value for f in figures if f.metric == metric and f.scope.startswith(prefix))
        return tuple(v for v in values if v is not None)

    points = tuple(
        FleetPoint(
            replicas=count,
            per_second=value("executions per second", f"N={count}"),
            p50_seconds=value("p50 execution latency", f"N={count}"),
            p95_seconds=value("p95 execution latency", f"N={count}"),
            idle_mb=per_replica("idle memory", count),
            peak_mb=per_replica("peak memory", count),
        )
        for count in counts
    )
    return FleetReport(title=_title(reader, document), points=points)


def read_rows(path: Path) -> RowsReport | None:
    loaded = _load(path)
    if loaded is None:
        return None
    reader, document = loaded
    return RowsReport(title=_title(reader, document), figures=_figures(reader, document))


def read_reports(directory: Path) -> ReportSet:
    """Every report under `directory`; a directory that does not exist is a usage error."""
    if not directory.is_dir():
        raise ConfigError(
            f"Reading the reports in {directory}",
            "it is not a directory",
            "Run build, smoke or fleet first (they write build/reports), or pass --reports DIR.",
        )
    return ReportSet(
        directory=directory,
        size=read_size(directory / SIZE_FILE),
        startup=read_startup(directory / STARTUP_FILE),
        fleet=read_fleet(directory / FLEET_FILE),
        bench=read_rows(directory / BENCH_FILE),
        benchmark=read_rows(directory / BENCHMARK_FILE),
    )
