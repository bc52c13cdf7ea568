"""One report format for every measurement the toolchain makes (size, build bench, smoke).

A `Report` is a title, a table of `Row`s and free-text notes. `write_report` saves it twice:
JSON for machines (and for comparing runs) and a Markdown table for people, which is also
appended to a GitHub job summary when the caller passes `GITHUB_STEP_SUMMARY` in `env`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from build_tools.errors import ConfigError

Status = Literal["pass", "fail", "info"]
REPORT_DIR = Path("build") / "reports"  # relative to the project root
SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"
_STATUS_MARK = {"pass": "✅ pass", "fail": "❌ fail", "info": "info"}


@dataclass(frozen=True)
class Row:
    """One figure: what was measured, for which platform or scope, and how it compares."""

    metric: str
    scope: str  # a platform ("linux/amd64") or another scope ("amd64 build", "all")
    value: float
    unit: str
    budget: float | None = None  # the limit; None for figures that are only reported
    status: Status = "info"
    limit: Literal["max", "min"] = "max"  # whether `budget` is an upper or a lower limit

    @classmethod
    def gated(cls, metric: str, scope: str, value: float, unit: str, budget: float) -> Row:
        """A figure with an upper limit: passes when `value <= budget`."""
        return cls(metric, scope, value, unit, budget, "pass" if value <= budget else "fail")

    @classmethod
    def floored(cls, metric: str, scope: str, value: float, unit: str, minimum: float) -> Row:
        """A figure with a lower limit: passes when `value >= minimum`."""
        status: Status = "pass" if value >= minimum else "fail"
        return cls(metric, scope, value, unit, minimum, status, "min")


@dataclass(frozen=True)
class Report:
    title: str
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    # Machine-readable detail that does not fit the table (e.g. per-layer sizes); JSON only.
    details: Mapping[str, Any] | None = None

    @property
    def failed(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.status == "fail")


def _number(value: float) -> str:
    text = f"{value:.1f}" if abs(value) >= 100 else f"{value:.3f}"
    return text.rstrip("0").rstrip(".")  # 0.1 rather than 0.100, 480 rather than 480.0


def _cell(text: str) -> str:
    # A pipe would end the cell early; newlines would end the row.
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    """The report as a GitHub-flavoured Markdown section (heading, table, notes)."""
    lines = [
        f"### {_cell(report.title)}",
        "",
        "| Metric | Scope | Value | Unit | Budget | Status |",
        "| --- | --- | ---: | --- | ---: | --- |",
    ]
    for row in report.rows:
        budget = "" if row.budget is None else _number(row.budget)
        budget = f"≥ {budget}" if budget and row.limit == "min" else budget
        lines.append(
            f"| {_cell(row.metric)} | {_cell(row.scope)} | {_number(row.value)} "
            f"| {_cell(row.unit)} | {budget} | {_STATUS_MARK[row.status]} |"
        )
    if report.notes:
        lines.append("")
        lines.extend(f"- {_cell(note)}" for note in report.notes)
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> dict[str, Any]:
    return {
        "title": report.title,
        "passed": not report.failed,
        "rows": [asdict(row) for row in report.rows],
        "notes": list(report.notes),
        "details": dict(report.details or {}),
    }


def write_report(
    report: Report,
    out_dir: Path,
    stem: str,
    env: Mapping[str, str] | None = None,
) -> tuple[Path, Path]:
    """Write `<out_dir>/<stem>.json` and `<stem>.md`; append the Markdown to the job summary.

    `env` is the caller's environment (never read here): when it names a
    `GITHUB_STEP_SUMMARY` file, the Markdown is appended to it.
    """
    if not stem or "/" in stem or stem.startswith("."):
        raise ConfigError(
            f"Writing report {stem!r}", "the name is empty or a path", "Use a plain file stem."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    md_path = out_dir / f"{stem}.md"
    markdown = to_markdown(report)
    json_path.write_text(json.dumps(to_json(report), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    summary = (env or {}).get(SUMMARY_VARIABLE, "")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    return json_path, md_path


def default_report_dir(project_root: Path) -> Path:
    return project_root / REPORT_DIR
