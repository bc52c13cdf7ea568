"""Figure specs: the numbers that reach plotly are the reports' numbers."""

from __future__ import annotations

from pathlib import Path

from build_tools.reporting import figures
from build_tools.reporting.inputs import (
    RowsReport,
    SizeReport,
    read_fleet,
    read_rows,
    read_size,
    read_startup,
)
from tests.unit.report_fixtures import (
    document,
    fleet_json,
    layer,
    row,
    size_json,
    startup_json,
    write,
)


def _size(tmp_path: Path, name: str, scale: int = 1) -> SizeReport:
    layers = [layer(str(i), scale * (i + 1) * 1_000_000, f"RUN step {i}") for i in range(7)]
    write(tmp_path / name, image_size=size_json({"linux/amd64": layers, "linux/arm64": layers[:3]}))
    size = read_size(tmp_path / name / "image-size.json")
    assert size is not None
    return size


def test_layer_chart_stacks_the_largest_layers_named_and_the_rest_as_one(tmp_path: Path) -> None:
    spec = figures.layer_chart(_size(tmp_path, "now"), _size(tmp_path, "before", 2))
    assert spec is not None
    traces = spec["data"]
    assert traces[0]["y"] == [
        "linux/amd64",
        "linux/arm64",
        "linux/amd64 (baseline)",
        "linux/arm64 (baseline)",
    ]
    assert traces[0]["x"] == [7.0, 3.0, 14.0, 6.0]  # the largest layer of each
    assert traces[0]["text"][0] == "RUN step 6"
    assert traces[-1]["name"] == "other layers"
    assert traces[-1]["x"] == [3.0, 0.0, 6.0, 0.0]  # layers 6th and 7th by size: 2 + 1 MB
    assert traces[-1]["text"][:2] == ["2 more layers", ""]
    totals = [sum(trace["x"][i] for trace in traces) for i in range(4)]
    assert totals == [28.0, 6.0, 56.0, 12.0]
    assert spec["layout"]["shapes"][0]["x0"] == 500.0  # the budget line


def test_a_section_whose_report_is_absent_has_no_figure() -> None:
    assert figures.layer_chart(None, None) is None
    assert figures.startup_timeline(None, None) is None
    assert figures.fleet_chart(None, None) is None
    assert figures.memory_chart((None, None, None), None) is None
    assert figures.rows_chart("t", RowsReport("x", ()), None) is None


def test_timeline_has_every_run_of_every_phase_then_the_floor(tmp_path: Path) -> None:
    write(tmp_path, startup=startup_json([1.2, 1.4, 1.3], [0.4, 0.5, 0.45]))
    startup = read_startup(tmp_path / "startup.json")
    spec = figures.startup_timeline(startup, startup)
    assert spec is not None
    now, before = spec["data"]
    assert (now["meta"], before["meta"]) == ("this run", "baseline")
    assert now["x"] == [0.2] * 3 + [0.3] * 3 + [1.2, 1.4, 1.3] + [1.1, 1.3, 1.2] + [0.4, 0.5, 0.45]
    assert now["y"][-3:] == [figures.FLOOR_LABEL] * 3
    assert now["y"][6:9] == ["poller visible"] * 3
    assert spec["layout"]["yaxis"]["categoryarray"][0] == figures.FLOOR_LABEL


def test_memory_bars_come_from_startup_fleet_and_benchmark(tmp_path: Path) -> None:
    bench = document(
        "Execution benchmark",
        [
            row("memory after first execution", "x", 140.0, "MB"),
            row("image size, compressed", "linux/amd64", 94.9, "MB"),  # a size, not memory
        ],
    )
    write(
        tmp_path,
        startup=startup_json([1.0], [0.4]),
        fleet=fleet_json({1: 2.0, 3: 5.0}),
        benchmark=bench,
    )
    startup = read_startup(tmp_path / "startup.json")
    fleet = read_fleet(tmp_path / "fleet.json")
    benchmark = read_rows(tmp_path / "benchmark.json")
    assert figures.memory_bars(startup, fleet, benchmark) == [
        ("idle after cold start (median)", 60.0),
        ("fleet N=1: idle (largest replica)", 61.0),
        ("fleet N=1: peak (largest replica)", 101.0),
        ("fleet N=3: idle (largest replica)", 63.0),
        ("fleet N=3: peak (largest replica)", 103.0),
        ("benchmark: memory after first execution", 140.0),
    ]
    spec = figures.memory_chart((startup, fleet, benchmark), None)
    assert spec is not None
    assert spec["layout"]["shapes"][0]["y0"] == 300.0  # the idle-memory budget


def test_fleet_chart_bars_are_executions_per_second(tmp_path: Path) -> None:
    write(tmp_path / "a", fleet=fleet_json({1: 2.0, 3: 5.0}))
    write(tmp_path / "b", fleet=fleet_json({1: 1.5}))
    spec = figures.fleet_chart(
        read_fleet(tmp_path / "a" / "fleet.json"), read_fleet(tmp_path / "b" / "fleet.json")
    )
    assert spec is not None
    assert [(t["meta"], t["x"], t["y"]) for t in spec["data"]] == [
        ("this run", ["N=1", "N=3"], [2.0, 5.0]),
        ("baseline", ["N=1"], [1.5]),
    ]


def test_rows_chart_shows_the_rows_in_seconds(tmp_path: Path) -> None:
    rows = [row("first execution", "amd64", 4.0, "s"), row("memory", "amd64", 9.0, "MB")]
    write(tmp_path, benchmark=document("b", rows))
    spec = figures.rows_chart("t", read_rows(tmp_path / "benchmark.json"), None)
    assert spec is not None
    assert [(t["x"], t["y"]) for t in spec["data"]] == [(["first execution (amd64)"], [4.0])]
