"""Cold start and idle memory of the built image, gated against the configured budgets."""

from __future__ import annotations

import json
import os

import pytest

from build_tools.config import ToolConfig
from build_tools.errors import BudgetExceededError
from build_tools.host import real_host
from build_tools.report import default_report_dir
from build_tools.testbed.cold_start import DEFAULT_RUNS, REPORT_STEM, run_startup_measurement


def test_cold_start_and_idle_memory_are_within_budget(
    tool_config: ToolConfig, runner_image: str, temporal_address: str, session_label: str
) -> None:
    report_dir = default_report_dir(tool_config.project_root)
    try:
        run_startup_measurement(
            tool_config,
            real_host(os.environ),
            runner_image,
            runs=DEFAULT_RUNS,
            report_dir=report_dir,
            temporal_address=temporal_address,
            session=session_label,
        )
    except BudgetExceededError as exc:
        pytest.fail(f"{exc} (report: {report_dir / REPORT_STEM}.md)")
    saved = json.loads((report_dir / f"{REPORT_STEM}.json").read_text(encoding="utf-8"))
    metrics = {row["metric"] for row in saved["rows"]}
    assert {"cold start (median)", "idle memory (median)", "cold start / floor"} <= metrics
    assert len(saved["details"]["runs"]) == DEFAULT_RUNS
