"""Pure: the reports' dataclasses as plotly figure specs (plain dicts: data and layout).

Plain dicts keep this module free of plotly (the page validates them when it renders) and
let tests compare the numbers directly. Each function returns None when its report is
absent from both sets, so the page skips that section. Sizes are in MB (10^6 bytes).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from build_tools.reporting.inputs import (
    Figure,
    FleetReport,
    PlatformSize,
    RowsReport,
    SizeReport,
    StartupReport,
)

Spec = dict[str, Any]
MB = 1_000_000
NAMED_LAYERS = 5  # the largest layers get a bar segment and a name each; the rest one segment
STEP_CHARS = 60  # a layer's step as shown on its bar; the hover shows all of it
CURRENT, BASELINE = "this run", "baseline"
COLOURS = {CURRENT: "#1f77b4", BASELINE: "#aaaaaa", "floor": "#2ca02c"}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def _mb(count: int) -> float:
    return round(count / MB, 3)


def _series(current: Any, baseline: Any) -> list[tuple[str, Any]]:
    return [(name, report) for name, report in ((CURRENT, current), (BASELINE, baseline)) if report]


# -- layer sizes ------------------------------------------------------------------------------


def _short(step: str) -> str:
    return step if len(step) <= STEP_CHARS else step[: STEP_CHARS - 1] + "…"


def layer_chart(current: SizeReport | None, baseline: SizeReport | None) -> Spec | None:
    """Stacked bars, one per platform (and per platform of the baseline): the largest
    layers each a segment named by their Dockerfile step, the rest one segment."""
    bars: list[tuple[str, PlatformSize]] = []
    for name, report in _series(current, baseline):
        suffix = "" if name == CURRENT else f" ({BASELINE})"
        bars += [(f"{size.platform}{suffix}", size) for size in report.platforms]
    if not bars:
        return None
    data = []
    for rank in range(NAMED_LAYERS):
        layers = [size.largest()[rank] if rank < len(size.layers) else None for _, size in bars]
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": "largest layer" if rank == 0 else f"layer #{rank + 1} by size",
                "y": [label for label, _ in bars],
                "x": [_mb(layer.unpacked_bytes) if layer else 0 for layer in layers],
                "text": [_short(layer.step) if layer else "" for layer in layers],
                "hovertext": [
                    f"{layer.step}<br>{layer.digest[:19]}: {_mb(layer.unpacked_bytes)} MB "
                    f"unpacked, {_mb(layer.compressed_bytes)} MB compressed"
                    if layer
                    else ""
                    for layer in layers
                ],
                "hoverinfo": "text",
                "textposition": "inside",
                "insidetextanchor": "start",
            }
        )
    rest = [
        sum(layer.unpacked_bytes for layer in size.largest()[NAMED_LAYERS:]) for _, size in bars
    ]
    counts = [max(0, len(size.layers) - NAMED_LAYERS) for _, size in bars]
    data.append(
        {
            "type": "bar",
            "orientation": "h",
            "name": "other layers",
            "y": [label for label, _ in bars],
            "x": [_mb(count) for count in rest],
            "text": [f"{n} more layers" if n else "" for n in counts],
            "textposition": "inside",
        }
    )
    budget = next((r.budget_mb for _, r in _series(current, baseline) if r.budget_mb), None)
    shapes = [_vline(budget, "budget")] if budget else []
    return {
        "data": data,
        "layout": _layout(
            "Unpacked size per platform, largest layers named",
            barmode="stack",
            xaxis={"title": {"text": "MB (10^6 bytes), unpacked"}},
            yaxis={"autorange": "reversed", "automargin": True},
            shapes=shapes,
            annotations=[_vlabel(budget, f"budget {budget:g} MB")] if budget else [],
            height=200 + 60 * len(bars),
        ),
    }


def _vline(x: float, name: str) -> dict[str, Any]:
    return {
        "type": "line",
        "name": name,
        "x0": x,
        "x1": x,
        "yref": "paper",
        "y0": 0,
        "y1": 1,
        "line": {"color": "#d62728", "dash": "dash"},
    }


def _hline(y: float, name: str) -> dict[str, Any]:
    return {
        "type": "line",
        "name": name,
        "y0": y,
        "y1": y,
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "line": {"color": "#d62728", "dash": "dash"},
    }


def _vlabel(x: float, text: str) -> dict[str, Any]:
    return {"x": x, "yref": "paper", "y": 1.02, "text": text, "showarrow": False}


def _hlabel(y: float, text: str) -> dict[str, Any]:
    return {"y": y, "xref": "paper", "x": 1, "xanchor": "right", "text": text, "showarrow": False}


# -- cold start -------------------------------------------------------------------------------

FLOOR_LABEL = "floor: python3 -c pass"


def startup_timeline(current: StartupReport | None, baseline: StartupReport | None) -> Spec | None:
    """A box per phase (its runs' seconds after `docker run`: median, quartiles, extremes),
    the floor as one more box, the baseline's boxes beside this run's."""
    series = _series(current, baseline)
    if not series:
        return None
    order = [phase.label for _, report in series for phase in report.phases]
    labels = [*dict.fromkeys(order), FLOOR_LABEL]
    data = []
    for name, report in series:
        y: list[str] = []
        x: list[float] = []
        for phase in report.phases:
            y += [phase.label] * len(phase.seconds)
            x += list(phase.seconds)
        y += [FLOOR_LABEL] * len(report.floors)
        x += list(report.floors)
        data.append(
            {
                "type": "box",
                "orientation": "h",
                "name": f"{name} ({report.runs} runs, {report.platform})",
                "x": x,
                "y": y,
                "boxpoints": "all",
                "jitter": 0.3,
                "marker": {"color": COLOURS[name]},
                "meta": name,
            }
        )
    reference = current or baseline
    budget = reference.cold_start_budget if reference else None
    return {
        "data": data,
        "layout": _layout(
            "Cold start: seconds after `docker run` until each phase (box: spread over the runs, "
            "line: median)",
            boxmode="group",
            xaxis={"title": {"text": "seconds after docker run"}, "rangemode": "tozero"},
            yaxis={
                "categoryorder": "array",
                "categoryarray": list(reversed(labels)),
                "automargin": True,
            },
            shapes=[_vline(budget, "budget")] if budget else [],
            annotations=[_vlabel(budget, f"budget {budget:g} s")] if budget else [],
            height=180 + 70 * len(labels),
        ),
    }


# -- memory -----------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def memory_bars(
    startup: StartupReport | None, fleet: FleetReport | None, benchmark: RowsReport | None
) -> list[tuple[str, float]]:
    """(what, MB): idle memory at cold start (median), per replica count the largest idle
    and peak replica, and the execution benchmark's memory rows."""
    bars: list[tuple[str, float]] = []
    if startup and (idle := _median(startup.idle_memory_mb)) is not None:
        bars.append(("idle after cold start (median)", idle))
    for point in fleet.points if fleet else ():
        if point.idle_mb:
            bars.append((f"fleet N={point.replicas}: idle (largest replica)", max(point.idle_mb)))
        if point.peak_mb:
            bars.append((f"fleet N={point.replicas}: peak (largest replica)", max(point.peak_mb)))
    for figure in benchmark.figures if benchmark else ():
        # The benchmark gives image sizes in MB too: only its memory rows belong here.
        if figure.unit == "MB" and "memory" in figure.metric and figure.value is not None:
            bars.append((f"benchmark: {figure.metric}", figure.value))
    return bars


def memory_chart(
    current: tuple[StartupReport | None, FleetReport | None, RowsReport | None],
    baseline: tuple[StartupReport | None, FleetReport | None, RowsReport | None] | None,
) -> Spec | None:
    series = [(CURRENT, memory_bars(*current))]
    if baseline:
        series.append((BASELINE, memory_bars(*baseline)))
    if not any(bars for _, bars in series):
        return None
    data = [
        {
            "type": "bar",
            "name": name,
            "x": [label for label, _ in bars],
            "y": [value for _, value in bars],
            "marker": {"color": COLOURS[name]},
            "meta": name,
        }
        for name, bars in series
    ]
    startup = current[0] or (baseline[0] if baseline else None)
    budget = startup.memory_budget if startup else None
    return {
        "data": data,
        "layout": _layout(
            "Memory (docker stats), MB",
            barmode="group",
            yaxis={"title": {"text": "MB (10^6 bytes)"}, "rangemode": "tozero"},
            xaxis={"automargin": True},
            shapes=[_hline(budget, "budget")] if budget else [],
            annotations=[_hlabel(budget, f"idle budget {budget:g} MB")] if budget else [],
        ),
    }


# -- figures of plain rows (execution benchmark, build times) -------------------------------------


def seconds_rows(report: RowsReport | None) -> list[Figure]:
    return [f for f in report.figures if f.unit == "s" and f.value is not None] if report else []


def rows_chart(title: str, current: RowsReport | None, baseline: RowsReport | None) -> Spec | None:
    """One bar per row in seconds (metric, scope), the baseline's beside it."""
    series = [(name, seconds_rows(report)) for name, report in _series(current, baseline)]
    if not any(rows for _, rows in series):
        return None
    data = [
        {
            "type": "bar",
            "name": name,
            "x": [f"{row.metric} ({row.scope})" for row in rows],
            "y": [row.value for row in rows],
            "marker": {"color": COLOURS[name]},
            "meta": name,
        }
        for name, rows in series
    ]
    return {
        "data": data,
        "layout": _layout(
            title,
            barmode="group",
            yaxis={"title": {"text": "seconds"}, "rangemode": "tozero"},
            xaxis={"automargin": True},
        ),
    }


# -- fleet ------------------------------------------------------------------------------------


def fleet_chart(current: FleetReport | None, baseline: FleetReport | None) -> Spec | None:
    """Executions per second per replica count, the baseline's beside it."""
    series = _series(current, baseline)
    if not series:
        return None
    data = [
        {
            "type": "bar",
            "name": name,
            "x": [f"N={point.replicas}" for point in report.points],
            "y": [point.per_second for point in report.points],
            "text": [
                f"p50 {point.p50_seconds} s, p95 {point.p95_seconds} s" for point in report.points
            ],
            "marker": {"color": COLOURS[name]},
            "meta": name,
        }
        for name, report in series
    ]
    return {
        "data": data,
        "layout": _layout(
            "Fleet throughput per replica count",
            barmode="group",
            xaxis={"title": {"text": "replicas on one task queue"}, "type": "category"},
            yaxis={"title": {"text": "executions per second"}, "rangemode": "tozero"},
        ),
    }
