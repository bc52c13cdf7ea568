"""The headline figures of a report set, each beside its baseline value and the change.

One list feeds both the page's table and the Markdown summary, so they cannot disagree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
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


Pick = Callable[[ReportSet], float | None]


def _median(values: tuple[float, ...]) -> float | None:
    return statistics.median(values) if values else None


def _candidates(
    current: ReportSet, baseline: ReportSet | None
) -> Iterator[tuple[str, str, Pick, bool]]:
    sets = [current, *([baseline] if baseline else [])]
    platforms = dict.fromkeys(
        size.platform for reports in sets if reports.size for size in reports.size.platforms
    )
    for platform in platforms:

        def unpacked(reports: ReportSet, platform: str = platform) -> float | None:
            found = [
                p
                for p in (reports.size.platforms if reports.size else ())
                if p.platform == platform
            ]
            return found[0].unpacked_bytes / MB if found else None

        def compressed(reports: ReportSet, platform: str = platform) -> float | None:
            found = [
                p
                for p in (reports.size.platforms if reports.size else ())
                if p.platform == platform
            ]
            return found[0].compressed_bytes / MB if found else None

        yield f"image size unpacked, {platform}", "MB", unpacked, True
        yield f"image size compressed, {platform}", "MB", compressed, True

    def phase(key: str) -> Pick:
        def pick(reports: ReportSet) -> float | None:
            startup = reports.startup
            found = [p.seconds for p in (startup.phases if startup else ()) if p.key == key]
            return _median(found[0]) if found else None

        return pick

    yield "cold start (poller visible, median)", "s", phase("poller_visible"), True
    yield (
        "floor: python3 -c pass (median)",
        "s",
        lambda r: _median(r.startup.floors) if r.startup else None,
        True,
    )
    yield (
        "idle memory (median)",
        "MB",
        lambda r: _median(r.startup.idle_memory_mb) if r.startup else None,
        True,
    )
    for metric in ("first execution", "second execution"):
        yield metric, "s", _first_matching(metric), True
    builds = dict.fromkeys(
        (f.metric, f.scope)
        for reports in sets
        if reports.bench
        for f in reports.bench.figures
        if f.unit == "s"
    )
    for metric, scope in builds:

        def build(reports: ReportSet, metric: str = metric, scope: str = scope) -> float | None:
            figures = reports.bench.figures if reports.bench else ()
            return next((f.value for f in figures if (f.metric, f.scope) == (metric, scope)), None)

        yield f"{metric}, {scope}", "s", build, True
    counts = dict.fromkeys(
        point.replicas for reports in sets if reports.fleet for point in reports.fleet.points
    )
    for count in counts:

        def fleet(attribute: str, count: int = count) -> Pick:
            def pick(reports: ReportSet) -> float | None:
                points = [
                    p
                    for p in (reports.fleet.points if reports.fleet else ())
                    if p.replicas == count
                ]
                value: float | None = getattr(points[0], attribute) if points else None
                return value

            return pick

        yield f"fleet throughput, N={count}", "executions/s", fleet("per_second"), False
        yield f"fleet p95 latency, N={count}", "s", fleet("p95_seconds"), True


def _first_matching(metric: str) -> Pick:
    """The execution benchmark's row whose metric starts with `metric` (its median first)."""

    def pick(reports: ReportSet) -> float | None:
        figures = reports.benchmark.figures if reports.benchmark else ()
        found = [f for f in figures if f.metric.lower().startswith(metric) and f.unit == "s"]
        found.sort(key=lambda f: "median" not in f.metric)
        return found[0].value if found else None

    return pick


def key_figures(current: ReportSet, baseline: ReportSet | None) -> tuple[KeyFigure, ...]:
    """The figures present in either set (a figure neither has is left out)."""
    figures = []
    for label, unit, pick, lower in _candidates(current, baseline):
        value = pick(current)
        before = pick(baseline) if baseline else None
        if value is None and before is None:
            continue
        figures.append(KeyFigure(label, unit, value, before, lower))
    return tuple(figures)
