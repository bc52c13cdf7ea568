"""`python -m build_tools report` (`nox -s report`): read the reports, write the page.

Defaults: the reports in build/reports under the project root, the page beside them as
report.html. With `--baseline DIR` every figure is shown beside the baseline's and the
change marked. The key figures go to stdout and, when the environment names a
GITHUB_STEP_SUMMARY file, to the job summary.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from build_tools.config import ToolConfig
from build_tools.errors import ConfigError
from build_tools.host import Host
from build_tools.options import ReportArguments
from build_tools.report import default_report_dir
from build_tools.reporting.inputs import read_reports
from build_tools.reporting.keyfigures import key_figures
from build_tools.reporting.summary import append_to_summary, to_markdown

PAGE_NAME = "report.html"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def require_plotly() -> None:
    try:
        found = importlib.util.find_spec("plotly") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(
            "Writing the report page",
            "the Python package 'plotly' is not installed",
            "Install the report extra: pip install -e .[report], or run `nox -s report`.",
        )


def run_report(
    args: ReportArguments,
    config: ToolConfig,
    host: Host,
    *,
    now: Callable[[], str] = _now,
) -> int:
    """Write the page (and append the summary); 0 unless a report is unreadable."""
    directory = args.reports or default_report_dir(config.project_root)
    output = args.output or directory / PAGE_NAME
    current = read_reports(directory)
    baseline = read_reports(args.baseline) if args.baseline else None
    if current.empty:
        raise ConfigError(
            f"Reading the reports in {directory}",
            "it holds none of image-size.json, startup.json, fleet.json, bench.json, "
            "benchmark.json",
            "Run nox -s build (and smoke or fleet) first, or pass --reports DIR.",
        )
    require_plotly()
    from build_tools.reporting.page import render_page  # imports plotly

    page = render_page(current, baseline, generated=now())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    markdown = to_markdown(key_figures(current, baseline), _link(output, directory), bool(baseline))
    append_to_summary(markdown, host.process.environment())
    print(markdown, end="")
    print(f"report: wrote {output} ({output.stat().st_size} bytes)")
    return 0


def _link(output: Path, directory: Path) -> str:
    """The page as the summary names it: relative to the reports (the uploaded artifact)."""
    try:
        return str(output.resolve().relative_to(directory.resolve()))
    except ValueError:
        return str(output)
