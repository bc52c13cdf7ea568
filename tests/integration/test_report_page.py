"""The report page in a real browser: Debian's headless Chromium, driven by Playwright.

The page is made by the real command (`python -m build_tools report`, in process) from the
fixture report sets in tests/integration/fixtures: reports/ holds real image-size, startup
and fleet reports (an amd64 build on a loaded 2-core host); its bench.json and
benchmark.json, and the whole baseline/ set, were written by the toolchain's own report
writers from made-up figures (the baseline measured arm64 too and has no benchmark.json,
so "gone" and "new" are shown). Checked: it renders with no console error
and no page error, the only request is the file itself (no network at view time), every
chart's data as plotly holds it equals the JSON's numbers, and a screenshot is saved to
build/test-artifacts/report.png for people to look at. Playwright's own browser download is
never used: the browser is /usr/bin/chromium (.ci/install-browser installs it).

"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from build_tools.cli import run
from build_tools.image.size import readable_step
from build_tools.reporting.inputs import PHASES
from build_tools.reporting.keyfigures import number

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
# Debian's chromium; AGENT_RUNNER_BROWSER names another build (CI runners without Debian's
# package use their preinstalled Chrome), as for .ci/install-browser.
CHROMIUM = Path(os.environ.get("AGENT_RUNNER_BROWSER", "/usr/bin/chromium"))
SCREENSHOT = PROJECT_ROOT / "build" / "test-artifacts" / "report.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Each chart's traces as plotly holds them after drawing (gd.data), and whether it drew.
READ_CHART = """id => {
  const gd = document.getElementById(id);
  if (!gd || !gd.data) { return null; }
  return {
    drawn: gd.querySelectorAll('.main-svg').length > 0,
    traces: gd.data.map(t => ({name: t.name, meta: t.meta ?? null, x: Array.from(t.x ?? []),
                               y: Array.from(t.y ?? []), text: Array.from(t.text ?? [])})),
  };
}"""


def _json(name: str, which: str = "reports") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / which / name).read_text(encoding="utf-8"))
    return loaded


def _row(report: dict[str, Any], metric: str, scope: str | None = None) -> float:
    values = [
        row["value"]
        for row in report["rows"]
        if row["metric"] == metric and (scope is None or row["scope"] == scope)
    ]
    assert len(values) == 1, (metric, scope, values)
    return float(values[0])


@dataclass
class Viewed:
    url: str
    size: int
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    charts: dict[str, Any] = field(default_factory=dict)
    key_cells: list[list[str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def viewed(tmp_path_factory: pytest.TempPathFactory) -> Viewed:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/install-browser)")
    from playwright.sync_api import sync_playwright

    work = tmp_path_factory.mktemp("report-page")
    page_file = work / "report.html"
    argv = [
        "report",
        "--reports", str(FIXTURES / "reports"),
        "--baseline", str(FIXTURES / "baseline"),
        "--output", str(page_file),
    ]  # fmt: skip
    assert run(argv, {}, project_root=PROJECT_ROOT) == 0
    seen = Viewed(page_file.as_uri(), page_file.stat().st_size)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(work / "profile"),  # a new, empty profile
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("request", lambda request: seen.requests.append(request.url))
            page.on(
                "console",
                lambda message: (
                    seen.errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: seen.errors.append(str(error)))
            page.goto(seen.url, wait_until="load")
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 6")
            for anchor in ("size", "startup", "memory", "executions", "fleet", "builds"):
                seen.charts[anchor] = page.evaluate(READ_CHART, f"chart-{anchor}")
            seen.key_cells = page.evaluate(
                "() => Array.from(document.querySelectorAll('table.key-figures tbody tr'))"
                ".map(tr => Array.from(tr.cells).map(td => td.textContent))"
            )
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            context.close()
    return seen


def _trace(viewed: Viewed, chart: str, meta: str) -> dict[str, Any]:
    (trace,) = [t for t in viewed.charts[chart]["traces"] if t["meta"] == meta]
    return dict(trace)


def test_the_page_renders_every_chart_without_errors(viewed: Viewed) -> None:
    assert viewed.errors == []
    assert all(chart and chart["drawn"] for chart in viewed.charts.values()), viewed.charts
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_only_request_is_the_page_itself(viewed: Viewed) -> None:
    assert viewed.requests == [viewed.url]


def test_the_layer_chart_holds_the_measured_layers(viewed: Viewed) -> None:
    for which, suffix in (("reports", ""), ("baseline", " (baseline)")):
        for platform in _json("image-size.json", which)["details"]["platforms"]:
            label = f"{platform['platform']}{suffix}"
            traces = viewed.charts["size"]["traces"]
            at = traces[0]["y"].index(label)
            total = sum(trace["x"][at] for trace in traces)
            assert total == pytest.approx(platform["unpacked_bytes"] / 1e6, abs=0.01)
            largest = max(platform["layers"], key=lambda layer: layer["unpacked_bytes"])
            assert traces[0]["x"][at] == pytest.approx(largest["unpacked_bytes"] / 1e6, abs=0.001)
            assert traces[0]["text"][at] == readable_step(largest["created_by"])[:59] + "…"


def test_the_timeline_holds_every_run_and_the_floor(viewed: Viewed) -> None:
    for which, meta in (("reports", "this run"), ("baseline", "baseline")):
        startup = _json("startup.json", which)
        runs, floors = startup["details"]["runs"], startup["details"]["floors"]
        expected = [run[key] for key, _ in PHASES for run in runs if run[key] is not None]
        trace = _trace(viewed, "startup", meta)
        assert trace["x"] == [*expected, *floors]
        poller = [x for x, y in zip(trace["x"], trace["y"], strict=True) if y == "poller visible"]
        assert statistics.median(poller) == _row(startup, "phase: poller visible (median)")
        floor = [x for x, y in zip(trace["x"], trace["y"], strict=True) if y.startswith("floor")]
        assert statistics.median(floor) == _row(startup, "floor: python3 -c pass (median)")


def test_memory_fleet_and_executions_are_the_reports_numbers(viewed: Viewed) -> None:
    startup, fleet = _json("startup.json"), _json("fleet.json")
    memory = _trace(viewed, "memory", "this run")
    assert memory["y"][0] == _row(startup, "idle memory (median)")
    peaks = [_row(fleet, "peak memory", "N=1 replica 1")]
    assert memory["y"][2] == max(peaks)
    for which, meta in (("reports", "this run"), ("baseline", "baseline")):
        report = _json("fleet.json", which)
        assert _trace(viewed, "fleet", meta)["y"] == [
            _row(report, "executions per second", f"N={n}") for n in (1, 3)
        ]
    benchmark = _json("benchmark.json")
    executions = _trace(viewed, "executions", "this run")
    # Every row in seconds is a bar, in the JSON's order: the executions among them.
    seconds = [row["value"] for row in benchmark["rows"] if row["unit"] == "s"]
    assert executions["y"] == seconds
    assert _row(benchmark, "first execution") in seconds
    assert _row(benchmark, "second execution") in seconds
    # The baseline set has no benchmark.json: the chart has this run's bars only.
    assert [t["meta"] for t in viewed.charts["executions"]["traces"]] == ["this run"]


def test_the_key_figures_mark_the_change(viewed: Viewed) -> None:
    rows = {cells[0]: cells[1:] for cells in viewed.key_cells}
    now = _row(_json("startup.json"), "cold start (median)")
    before = _row(_json("startup.json", "baseline"), "cold start (median)")
    unit, shown_now, shown_before, change = rows["cold start (poller visible, median)"]
    assert unit == "s"
    assert float(shown_now) == pytest.approx(now, abs=0.0005)  # shown to 3 decimals
    assert float(shown_before) == pytest.approx(before, abs=0.0005)
    verdict = "worse" if now > before else "better"  # the fixtures differ by over 2 %
    arrow = "▲" if now > before else "▼"
    assert change == f"{arrow} {(now - before) / before * 100:+.1f} % ({verdict})"
    assert rows["first execution"][2:] == ["-", "new"]
    # The baseline measured arm64 too; this run (a real amd64 build) did not.
    (arm64,) = [
        p for p in _json("image-size.json", "baseline")["details"]["platforms"]
        if p["platform"] == "linux/arm64"
    ]  # fmt: skip
    assert rows["image size unpacked, linux/arm64"][1:] == [
        "-",
        number(arm64["unpacked_bytes"] / 1e6),
        "gone",
    ]
