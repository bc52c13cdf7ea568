"""The report page: one HTML file with plotly.js inlined, so it opens with no network.

Each section is a figure spec from `figures` (validated and rendered by plotly) with a
table of its numbers; a section whose report is absent from both sets is left out and
named under "Not measured". A Content-Security-Policy forbids every fetch, so a page that
tried one would fail loudly in the browser test rather than work only when online.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from build_tools.reporting import figures
from build_tools.reporting.inputs import (
    BENCH_FILE,
    BENCHMARK_FILE,
    FLEET_FILE,
    SIZE_FILE,
    STARTUP_FILE,
    Figure,
    ReportSet,
)
from build_tools.reporting.keyfigures import KeyFigure, change_text, key_figures, number
from build_tools.reporting.markup import Cell, Html, bullet_list, element, render, table

TITLE = "agent-runner: image and runtime measurements"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
# Inline scripts and styles only; no request of any kind (plotly draws into SVG and canvas).
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
td.better { color: #1a7f37; } td.worse { color: #cf222e; font-weight: bold; }
td.same, td.new, td.gone { color: #666; }
section { margin-bottom: 2.5em; } .chart { min-height: 300px; }
p.sources, p.absent { color: #555; }
"""


@dataclass(frozen=True)
class Section:
    anchor: str
    heading: str
    source: str  # the report file it comes from
    spec: figures.Spec | None
    body: Sequence[Html]


def _charts() -> Callable[[str, figures.Spec], str]:
    """A renderer that inlines plotly.js into the first chart only (one copy per page)."""
    import plotly.io  # type: ignore[import-untyped]  # plotly ships no type information

    included = False

    def chart(anchor: str, spec: figures.Spec) -> str:
        nonlocal included
        markup: str = plotly.io.to_html(
            spec,
            include_plotlyjs=not included,
            full_html=False,
            div_id=f"chart-{anchor}",
            config=PLOTLY_CONFIG,
            default_width="100%",
            validate=True,
        )
        included = True
        return markup

    return chart


def _figure_rows(rows: Sequence[Figure]) -> Html:
    return table(
        ["Metric", "Scope", "Value", "Unit", "Budget", "Status"],
        [
            [
                Cell(row.metric),
                Cell(row.scope),
                Cell(number(row.value), "number"),
                Cell(row.unit),
                Cell("" if row.budget is None else number(row.budget), "number"),
                Cell(row.status, row.status),
            ]
            for row in rows
        ],
    )


def key_table(figures_: Sequence[KeyFigure], with_baseline: bool) -> Html:
    headers = ["Figure", "Unit", "This run"]
    if with_baseline:
        headers += ["Baseline", "Change"]
    rows = []
    for figure in figures_:
        row = [Cell(figure.label), Cell(figure.unit), Cell(number(figure.value), "number")]
        if with_baseline:
            row += [
                Cell(number(figure.baseline), "number"),
                Cell(change_text(figure), figure.verdict),
            ]
        rows.append(row)
    return table(headers, rows, "key-figures")


def _size_body(reports: ReportSet) -> list[Html]:
    size = reports.size
    if size is None:
        return []
    rows = [
        [
            Cell(p.platform),
            Cell(number(p.unpacked_bytes / figures.MB), "number"),
            Cell(number(p.compressed_bytes / figures.MB), "number"),
            Cell(str(len(p.layers)), "number"),
            Cell(p.largest()[0].step if p.layers else ""),
        ]
        for p in size.platforms
    ]
    headers = ["Platform", "Unpacked MB", "Compressed MB", "Layers", "Largest layer"]
    return [element("p", f"Image {size.ref}"), table(headers, rows)]


def _spread(values: Sequence[float]) -> list[Cell]:
    if not values:
        return [Cell("-"), Cell("-"), Cell("-"), Cell("0", "number")]
    return [
        Cell(number(statistics.median(values)), "number"),
        Cell(number(min(values)), "number"),
        Cell(number(max(values)), "number"),
        Cell(str(len(values)), "number"),
    ]


def _startup_body(reports: ReportSet) -> list[Html]:
    startup = reports.startup
    if startup is None:
        return []
    rows = [[Cell(phase.label), *_spread(phase.seconds)] for phase in startup.phases]
    rows.append([Cell(figures.FLOOR_LABEL), *_spread(startup.floors)])
    rows.append([Cell("idle memory, MB"), *_spread(startup.idle_memory_mb)])
    headers = ["Phase (s after docker run)", "Median", "Min", "Max", "Runs"]
    return [element("p", startup.title), table(headers, rows)]


def _fleet_body(reports: ReportSet) -> list[Html]:
    fleet = reports.fleet
    if fleet is None:
        return []
    rows = [
        [
            Cell(f"N={p.replicas}"),
            Cell(number(p.per_second), "number"),
            Cell(number(p.p50_seconds), "number"),
            Cell(number(p.p95_seconds), "number"),
            Cell(number(max(p.peak_mb)) if p.peak_mb else "-", "number"),
        ]
        for p in fleet.points
    ]
    headers = ["Replicas", "Executions/s", "p50 latency s", "p95 latency s", "Peak MB (max)"]
    return [element("p", fleet.title), table(headers, rows)]


def _rows_body(report: Any) -> list[Html]:
    return [element("p", report.title), _figure_rows(report.figures)] if report else []


def sections(current: ReportSet, baseline: ReportSet | None) -> list[Section]:
    """Every section, in reading order; `spec` None means that report is absent."""
    before = baseline
    return [
        Section(
            "size",
            "Image size per platform",
            SIZE_FILE,
            figures.layer_chart(current.size, before.size if before else None),
            _size_body(current),
        ),
        Section(
            "startup",
            "Cold start",
            STARTUP_FILE,
            figures.startup_timeline(current.startup, before.startup if before else None),
            _startup_body(current),
        ),
        Section(
            "memory",
            "Memory",
            f"{STARTUP_FILE}, {FLEET_FILE}, {BENCHMARK_FILE}",
            figures.memory_chart(
                (current.startup, current.fleet, current.benchmark),
                (before.startup, before.fleet, before.benchmark) if before else None,
            ),
            [],
        ),
        Section(
            "executions",
            "First and second execution",
            BENCHMARK_FILE,
            figures.rows_chart(
                "Execution benchmark, seconds",
                current.benchmark,
                before.benchmark if before else None,
            ),
            _rows_body(current.benchmark),
        ),
        Section(
            "fleet",
            "Fleet throughput",
            FLEET_FILE,
            figures.fleet_chart(current.fleet, before.fleet if before else None),
            _fleet_body(current),
        ),
        Section(
            "builds",
            "Build times",
            BENCH_FILE,
            figures.rows_chart(
                "Build benchmark, seconds", current.bench, before.bench if before else None
            ),
            _rows_body(current.bench),
        ),
    ]


def render_page(current: ReportSet, baseline: ReportSet | None, *, generated: str) -> str:
    """The whole page as one string (plotly.js included: a few MB)."""
    chart = _charts()
    present = [section for section in sections(current, baseline) if section.spec]
    absent = [section for section in sections(current, baseline) if not section.spec]
    sources = f"Reports from {current.directory}"
    if baseline:
        sources += f", compared with the baseline in {baseline.directory}"
    parts: list[Html | str] = [
        element("h1", TITLE),
        element("p", f"{sources}; generated {generated}.", {"class": "sources"}),
        element("h2", "Key figures"),
        key_table(key_figures(current, baseline), baseline is not None),
    ]
    for section in present:
        assert section.spec is not None  # for mypy: `present` holds only charted sections
        parts.append(
            element(
                "section",
                [
                    element("h2", section.heading),
                    Html(chart(section.anchor, section.spec)),
                    *section.body,
                    element("p", f"From {section.source}.", {"class": "sources"}),
                ],
                {"id": section.anchor},
            )
        )
    if absent:
        parts += [
            element("h2", "Not measured in this set"),
            bullet_list([f"{s.heading}: no {s.source}" for s in absent]),
        ]
    head = (
        '<meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{render(element('title', TITLE))}<style>{STYLE}</style>"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>{render(parts)}</body></html>\n'
    )
