"""`nox -s benchmark` end to end with small numbers: the JSON is complete and plausible."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import benchmark_run


def test_one_benchmark_run_reports_every_figure(runner_image: str, tmp_path: Path) -> None:
    argv = [
        f"--image={runner_image}",
        "--runs=2",
        "--replicas=1,3",
        "--executions=3",
        "--model-delay=0.2",
        "--calls-per-execution=2",
        "--settle=1",
        "--max-concurrency=1",
        f"--report-dir={tmp_path}",
    ]
    assert benchmark_run.main(argv) == 0

    data = json.loads((tmp_path / "benchmark.json").read_text())
    cold = data["cold_start"]
    assert 0 < cold["floor_s"] < cold["median_s"] <= cold["max_s"] < 60
    assert cold["ratio"] > 1
    runs = data["executions"]
    # Both reach the model; neither waits for it (the timing ends at its first request).
    assert 0 < runs["second_s"] < 30
    assert 0 < runs["first_s"] < 30
    memory = data["idle_memory_mb"]
    assert 10 < memory["at_ready"] < 1000
    assert 10 < memory["after_settle"] < 1000
    assert data["size"], "no platform measured"
    for size in data["size"].values():
        assert 0 < size["compressed_mb"] < size["unpacked_mb"] < 2000
    fleet = data["fleet"]["replicas"]
    assert set(fleet) == {"1", "3"}
    for figures in fleet.values():
        assert figures["completed"] == figures["executions"] == 3
        assert figures["throughput_per_s"] > 0
        assert 0 < figures["cpu_seconds_per_execution"] < 60
    assert data["fleet"]["ratio"] > 0
    assert {t["name"] for t in data["targets"]} >= {
        "first execution above the second",
        "cold start / floor",
        "idle memory after warm-up",
        "fleet throughput N=3 / N=1",
    }
    assert len(data["load_average"]["start"]) == 3
    assert "| cold start / floor |" in (tmp_path / "benchmark.md").read_text()
