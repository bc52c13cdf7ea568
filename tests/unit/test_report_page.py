"""The page as HTML: escaped text, plotly.js once, absent sections named; the command."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from build_tools.cli import run
from build_tools.reporting.inputs import read_reports
from build_tools.reporting.markup import Cell, Html, element, render, table
from build_tools.reporting.page import render_page
from tests.unit.fakes import FakeHost
from tests.unit.report_fixtures import document, fleet_json, row, startup_json, write

ROOT = Path(__file__).resolve().parents[2]
# The banner at the top of the plotly.js bundle: one per copy of the library.
PLOTLY_BANNER = "* plotly.js v"


def test_markup_escapes_text_and_attributes() -> None:
    made = element("p", ["<b>", Html("<i>ok</i>")], {"title": '"x"&'})
    assert made.markup == '<p title="&quot;x&quot;&amp;">&lt;b&gt;<i>ok</i></p>'
    assert render(table(["a<"], [[Cell("1 & 2", "number")]])) == (
        "<table><thead><tr><th>a&lt;</th></tr></thead>"
        '<tbody><tr><td class="number">1 &amp; 2</td></tr></tbody></table>'
    )


def test_the_page_inlines_plotly_once_and_escapes_report_text(tmp_path: Path) -> None:
    hostile = document(
        "<script>alert(1)</script>", [row("first execution </script>", "<img>", 4.0, "s")]
    )
    reports = write(tmp_path, fleet=fleet_json({1: 2.0}), benchmark=hostile)
    page = render_page(read_reports(reports), None, generated="2026-12-07T00:00:00+00:00")
    assert page.count(PLOTLY_BANNER) == 1
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="chart-fleet"' in page
    assert 'id="chart-executions"' in page
    assert "Content-Security-Policy" in page
    # In the chart's JSON too: a `</script>` in a report cannot end the page's script early.
    assert page.count("</script>") == page.count("<script")
    # Absent reports are named, not drawn.
    assert 'id="chart-size"' not in page
    assert "Image size per platform: no image-size.json" in page
    assert "Cold start: no startup.json" in page


def _run(argv: list[str], environ: dict[str, str]) -> int:
    return run(argv, environ, lambda env: FakeHost(environ=dict(env)), ROOT)


def test_the_command_writes_the_page_beside_the_reports_and_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = write(tmp_path / "reports", startup=startup_json([1.0], [0.4]))
    baseline = write(tmp_path / "baseline", startup=startup_json([2.0], [0.4]))
    summary = tmp_path / "summary.md"
    argv = ["report", "--reports", str(reports), "--baseline", str(baseline)]
    assert _run(argv, {"GITHUB_STEP_SUMMARY": str(summary)}) == 0
    page = (reports / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-startup"' in page
    markdown = summary.read_text(encoding="utf-8")
    assert "| cold start (poller visible, median) | s | 1 | 2 | ▼ -50.0 % (better) |" in markdown
    assert "[report.html](report.html)" in markdown
    out = capsys.readouterr().out
    assert out.startswith("### Measurements report")
    assert f"report: wrote {reports / 'report.html'}" in out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "is not a directory"),
        ("empty", "it holds none of image-size.json"),
        ("malformed", "details.runs is not a list"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    reports = tmp_path / "reports"
    if setup != "missing":
        reports.mkdir()
    if setup == "malformed":
        (reports / "startup.json").write_text(json.dumps(document("t", [])), encoding="utf-8")
    output = tmp_path / "page.html"
    assert _run(["report", "--reports", str(reports), "--output", str(output)], {}) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("agent-runner-build: Reading ")
    assert message in line
    assert not output.exists()


def test_only_the_page_imports_plotly_and_only_when_it_renders() -> None:
    # The shipped toolchain runs without the report extra (plotly): nothing imports it at
    # module level, and only page.py imports it at all.
    importers = {}
    for path in sorted((ROOT / "build_tools").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] == "plotly" for name in names):
                importers[path.relative_to(ROOT).as_posix()] = id(node) in top_level
    assert importers == {"build_tools/reporting/page.py": False}
