"""The headline figures of a report set, each beside its baseline value and the change.

One list feeds both the page's table and the Markdown summary, so they cannot disagree.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Literal

from build_tools.reporting.inputs import ReportSet

MB = 1_000_000
# A change smaller than this (relative) is shown as unchanged: timings are noisy.
SAME_WITHIN = 0.02
Verdict = Literal["better", "worse", "same", "new", "gone"]


@dataclass(frozen=True)
class KeyFigure:
    label: str
    unit: str
    value: float | None
    baseline: float | None
    lower_is_better: bool = True

    @property
    def change(self) -> float | None:
        """(value - baseline) / baseline; None when either is absent or the baseline is 0."""
        if self.value is None or self.baseline is None or self.baseline == 0:
            return None
        return (self.value - self.baseline) / self.baseline

    @property
    def verdict(self) -> Verdict:
        if self.value is None:
            return "gone"
        if self.baseline is None:
            return "new"
        change = self.change
        if change is None:  # a baseline of 0
            change = 0.0 if self.value == 0 else math.copysign(1.0, self.value)
        if abs(change) < SAME_WITHIN:
            return "same"
        return "better" if (change < 0) == self.lower_is_better else "worse"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    text = f"{value:.1f}" if abs(value) >= 100 else f"{value:.3f}"
    return text.rstrip("0").rstrip(".")


def change_text(figure: KeyFigure) -> str:
    """`▲ +4.2 % (worse)`, `▼ -10.0 % (better)`, `= +0.5 % (same)`; `new` or `gone` alone."""
    verdict = figure.verdict
    if figure.value is None or figure.baseline is None:
        return verdict
    arrow = "▲" if figure.value > figure.baseline else "▼"
    if verdict == "same":
        arrow = "="
    change = figure.change
    percent = "" if change is None else f" {change * 100:+.1f} %"
    return f"{arrow}{percent} ({verdict})"


Key = tuple[str, str, bool]  # label, unit, lower is better


def _median(values: tuple[float, ...]) -> float | None:
    return statistics.median(values) if values else None


def _execution(reports: ReportSet, metric: str) -> float | None:
    """The execution benchmark's row (seconds) whose metric starts with `metric`, a median
    first when it has several."""
    figures = reports.benchmark.figures if reports.benchmark else ()
    found = [f for f in figures if f.metric.lower().startswith(metric) and f.unit == "s"]
    found.sort(key=lambda f: "median" not in f.metric)
    return found[0].value if found else None


def figures_of(reports: ReportSet) -> dict[Key, float | None]:
    """The headline figures one report set has, in reading order."""
    found: dict[Key, float | None] = {}
    for size in reports.size.platforms if reports.size else ():
        found[f"image size unpacked, {size.platform}", "MB", True] = size.unpacked_bytes / MB
        found[f"image size compressed, {size.platform}", "MB", True] = size.compressed_bytes / MB
    if startup := reports.startup:
        poller = [phase.seconds for phase in startup.phases if phase.key == "poller_visible"]
        found["cold start (poller visible, median)", "s", True] = (
            _median(poller[0]) if poller else None
        )
        found["floor: python3 -c pass (median)", "s", True] = _median(startup.floors)
        found["idle memory (median)", "MB", True] = _median(startup.idle_memory_mb)
    for metric in ("first execution", "second execution"):
        found[metric, "s", True] = _execution(reports, metric)
    for figure in reports.bench.figures if reports.bench else ():
        if figure.unit == "s":
            found[f"{figure.metric}, {figure.scope}", "s", True] = figure.value
    for point in reports.fleet.points if reports.fleet else ():
        found[f"fleet throughput, N={point.replicas}", "executions/s", False] = point.per_second
        found[f"fleet p95 latency, N={point.replicas}", "s", True] = point.p95_seconds
    return found


def key_figures(current: ReportSet, baseline: ReportSet | None) -> tuple[KeyFigure, ...]:
    """This set's figures beside the baseline's (a figure neither has is left out); those
    only the baseline has come last."""
    now = figures_of(current)
    before = figures_of(baseline) if baseline else {}
    figures = []
    for key in dict.fromkeys([*now, *before]):
        label, unit, lower = key
        value, earlier = now.get(key), before.get(key)
        if value is not None or earlier is not None:
            figures.append(KeyFigure(label, unit, value, earlier, lower))
    return tuple(figures)
