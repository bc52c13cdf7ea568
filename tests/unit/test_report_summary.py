"""Key figures against a baseline, and the Markdown summary that carries them."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_tools.reporting.inputs import read_reports
from build_tools.reporting.keyfigures import KeyFigure, change_text, key_figures
from build_tools.reporting.summary import append_to_summary, to_markdown
from tests.unit.report_fixtures import fleet_json, startup_json, write


@pytest.mark.parametrize(
    ("figure", "verdict", "text"),
    [
        (KeyFigure("cold", "s", 1.0, 2.0), "better", "▼ -50.0 % (better)"),
        (KeyFigure("cold", "s", 2.2, 2.0), "worse", "▲ +10.0 % (worse)"),
        (KeyFigure("cold", "s", 2.01, 2.0), "same", "= +0.5 % (same)"),
        (KeyFigure("rate", "1/s", 3.0, 2.0, lower_is_better=False), "better", "▲ +50.0 % (better)"),
        (KeyFigure("rate", "1/s", 1.0, 2.0, lower_is_better=False), "worse", "▼ -50.0 % (worse)"),
        (KeyFigure("cold", "s", 1.0, None), "new", "new"),
        (KeyFigure("cold", "s", None, 1.0), "gone", "gone"),
        (KeyFigure("stop", "s", 0.5, 0.0), "worse", "▲ (worse)"),
        (KeyFigure("stop", "s", 0.0, 0.0), "same", "= (same)"),
    ],
)
def test_the_change_is_marked(figure: KeyFigure, verdict: str, text: str) -> None:
    assert figure.verdict == verdict
    assert change_text(figure) == text


def _sets(tmp_path: Path) -> tuple[Path, Path]:
    now = write(
        tmp_path / "now", startup=startup_json([1.0, 1.2, 1.1], [0.4]), fleet=fleet_json({1: 2.0})
    )
    before = write(tmp_path / "before", startup=startup_json([1.5], [0.4]))
    return now, before


def test_key_figures_pair_each_figure_with_its_baseline(tmp_path: Path) -> None:
    now, before = _sets(tmp_path)
    found = {f.label: f for f in key_figures(read_reports(now), read_reports(before))}
    cold = found["cold start (poller visible, median)"]
    assert (cold.value, cold.baseline, cold.verdict) == (1.1, 1.5, "better")
    throughput = found["fleet throughput, N=1"]
    assert (throughput.value, throughput.baseline, throughput.verdict) == (2.0, None, "new")
    assert "first execution" not in found  # in neither set


def test_markdown_with_a_baseline_has_its_columns_and_the_link(tmp_path: Path) -> None:
    now, before = _sets(tmp_path)
    markdown = to_markdown(
        key_figures(read_reports(now), read_reports(before)), "report.html", True
    )
    lines = markdown.splitlines()
    assert lines[2] == "| Figure | Unit | This run | Baseline | Change |"
    assert "| cold start (poller visible, median) | s | 1.1 | 1.5 | ▼ -26.7 % (better) |" in lines
    assert lines[-1] == "The charts: [report.html](report.html) (one self-contained HTML page)."


def test_markdown_without_a_baseline_has_no_change_column(tmp_path: Path) -> None:
    now, _ = _sets(tmp_path)
    markdown = to_markdown(key_figures(read_reports(now), None), "report.html", False)
    assert "| Figure | Unit | This run |" in markdown
    assert "Baseline" not in markdown


def test_the_summary_is_appended_only_when_the_environment_names_a_file(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier\n", encoding="utf-8")
    assert append_to_summary("# new\n", {}) is None
    assert append_to_summary("# new\n", {"GITHUB_STEP_SUMMARY": str(summary)}) == summary
    assert summary.read_text(encoding="utf-8") == "earlier\n# new\n\n"
