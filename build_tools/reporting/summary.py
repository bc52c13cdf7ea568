"""The report's key figures as Markdown, with a link to the page; for a CI job summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from build_tools.report import SUMMARY_VARIABLE
from build_tools.reporting.keyfigures import KeyFigure, change_text, number


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(figures: Sequence[KeyFigure], page: str, with_baseline: bool) -> str:
    """A heading, the key figures table (with baseline and change when given) and the link."""
    header = "| Figure | Unit | This run |"
    rule = "| --- | --- | ---: |"
    if with_baseline:
        header += " Baseline | Change |"
        rule += " ---: | --- |"
    lines = ["### Measurements report", "", header, rule]
    for figure in figures:
        line = f"| {_cell(figure.label)} | {_cell(figure.unit)} | {number(figure.value)} |"
        if with_baseline:
            line += f" {number(figure.baseline)} | {change_text(figure)} |"
        lines.append(line)
    if not figures:
        lines.append("| (no report found) | | |" + (" | |" if with_baseline else ""))
    lines += ["", f"The charts: [{page}]({page}) (one self-contained HTML page)."]
    return "\n".join(lines) + "\n"


def append_to_summary(markdown: str, env: Mapping[str, str]) -> Path | None:
    """Append to the file `GITHUB_STEP_SUMMARY` names in `env`, when it names one."""
    target = env.get(SUMMARY_VARIABLE, "")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown + "\n")
    return path
