"""Reading the JSON reports: shapes into dataclasses, absent as None, bad input exits 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from build_tools.errors import ConfigError
from build_tools.reporting.inputs import read_fleet, read_reports, read_size, read_startup
from tests.unit.report_fixtures import fleet_json, layer, size_json, startup_json, write

FIXTURES = Path(__file__).resolve().parents[1] / "integration" / "fixtures"


def test_absent_reports_are_none(tmp_path: Path) -> None:
    reports = read_reports(tmp_path)
    assert (reports.size, reports.startup, reports.fleet, reports.bench) == (None,) * 4
    assert reports.benchmark is None
    assert reports.empty


def test_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory") as caught:
        read_reports(tmp_path / "nowhere")
    assert caught.value.exit_code == 2


def test_size_layers_keep_their_step_without_buildkit_decoration(tmp_path: Path) -> None:
    layers = [
        layer("a", 2_000_000, "RUN |1 A=1 /bin/sh -c apt-get install x # buildkit"),
        layer("b", 5_000_000, "COPY /site-packages /opt"),
    ]
    write(tmp_path, image_size=size_json({"linux/amd64": layers}))
    size = read_size(tmp_path / "image-size.json")
    assert size is not None
    (platform,) = size.platforms
    assert platform.unpacked_bytes == 7_000_000
    assert [item.step for item in platform.largest()] == [
        "COPY /site-packages /opt",
        "RUN apt-get install x",
    ]
    assert size.budget_mb == 500.0


def test_startup_phases_skip_the_ones_no_run_reached(tmp_path: Path) -> None:
    write(tmp_path, startup=startup_json([1.2, 1.4, 1.3], [0.4, 0.5, 0.45]))
    startup = read_startup(tmp_path / "startup.json")
    assert startup is not None
    assert [phase.key for phase in startup.phases] == [
        "started",
        "first_log",
        "poller_visible",
        "ready_line",
    ]  # `connected` is null in every run
    assert startup.phases[-2].seconds == (1.2, 1.4, 1.3)
    assert startup.floors == (0.4, 0.5, 0.45)
    assert (startup.cold_start_budget, startup.memory_budget) == (5.0, 300.0)
    assert (startup.runs, startup.platform) == (3, "linux/amd64")


def test_fleet_points_per_replica_count_with_each_replicas_memory(tmp_path: Path) -> None:
    write(tmp_path, fleet=fleet_json({3: 4.5, 1: 1.9}))
    fleet = read_fleet(tmp_path / "fleet.json")
    assert fleet is not None
    assert [(p.replicas, p.per_second, p.p95_seconds) for p in fleet.points] == [
        (1, 1.9, 3.0),
        (3, 4.5, 5.0),
    ]
    assert fleet.points[1].peak_mb == (101.0, 102.0, 103.0)


def test_nan_is_read_as_no_number(tmp_path: Path) -> None:
    content = fleet_json({1: math.nan})
    (tmp_path / "fleet.json").write_text(json.dumps(content), encoding="utf-8")  # NaN literal
    fleet = read_fleet(tmp_path / "fleet.json")
    assert fleet is not None
    assert fleet.points[0].per_second is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "the file is not JSON"),
        ("[]", "the document is not an object"),
        (json.dumps({"title": "x", "rows": {}}), "rows is not a list"),
        (
            json.dumps(fleet_json({1: 1.0})).replace('"value": 1.0', '"value": "fast"', 1),
            "rows[0].value is 'fast', not a number",
        ),
    ],
)
def test_a_malformed_report_names_its_file_and_field(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_fleet(path)
    message = str(caught.value)
    assert message.startswith(f"Reading report {path} failed because {problem}")
    assert "\n" not in message


def test_startup_without_runs_is_refused(tmp_path: Path) -> None:
    write(tmp_path, startup=startup_json([], []))
    with pytest.raises(ConfigError, match=r"details\.runs is empty"):
        read_startup(tmp_path / "startup.json")


def test_the_fixture_sets_read_completely() -> None:
    current = read_reports(FIXTURES / "reports")
    baseline = read_reports(FIXTURES / "baseline")
    assert current.size is not None
    assert current.startup is not None
    assert current.fleet is not None
    assert current.bench is not None
    assert current.benchmark is not None
    assert baseline.benchmark is None  # the baseline predates the execution benchmark
    assert [p.platform for p in current.size.platforms] == ["linux/amd64"]  # a real build
    assert baseline.size is not None
    assert [p.platform for p in baseline.size.platforms] == ["linux/amd64", "linux/arm64"]
    assert "connected" in [phase.key for phase in current.startup.phases]
    assert len(current.startup.floors) == current.startup.runs == 5
