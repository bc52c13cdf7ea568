"""The shared report format: JSON and Markdown files, and the GitHub job summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from build_tools.errors import ConfigError
from build_tools.report import Report, Row, default_report_dir, to_markdown, write_report

REPORT = Report(
    title="Image size",
    rows=(
        Row.gated("image size, unpacked", "linux/amd64", 512.25, "MB", 500),
        Row.gated("image size, unpacked", "linux/arm64", 480.0, "MB", 500),
        Row("image size, compressed", "linux/amd64", 120.5, "MB"),
    ),
    notes=("largest layer: RUN pip install | tee log",),
    details={"ref": "img:1"},
)


def test_gated_rows_pass_at_the_budget_and_fail_above_it() -> None:
    assert Row.gated("m", "s", 5.0, "s", 5.0).status == "pass"
    assert Row.gated("m", "s", 5.01, "s", 5.0).status == "fail"
    assert [row.scope for row in REPORT.failed] == ["linux/amd64"]


def test_markdown_is_one_table_with_escaped_cells() -> None:
    markdown = to_markdown(REPORT)

    lines = markdown.splitlines()
    assert lines[0] == "### Image size"
    assert lines[2] == "| Metric | Scope | Value | Unit | Budget | Status |"
    assert lines[4] == "| image size, unpacked | linux/amd64 | 512.2 | MB | 500 | ❌ fail |"
    assert lines[5] == "| image size, unpacked | linux/arm64 | 480 | MB | 500 | ✅ pass |"
    assert lines[6] == "| image size, compressed | linux/amd64 | 120.5 | MB |  | info |"
    assert lines[-1] == "- largest layer: RUN pip install \\| tee log"


def test_write_report_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "reports"

    json_path, md_path = write_report(REPORT, out, "size")

    assert (json_path, md_path) == (out / "size.json", out / "size.md")
    saved = json.loads(json_path.read_text())
    assert saved["passed"] is False
    assert saved["rows"][0] == {
        "metric": "image size, unpacked",
        "scope": "linux/amd64",
        "value": 512.25,
        "unit": "MB",
        "budget": 500,
        "status": "fail",
        "limit": "max",
    }
    assert saved["details"] == {"ref": "img:1"}
    assert md_path.read_text() == to_markdown(REPORT)


def test_markdown_is_appended_to_the_job_summary_when_given(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")

    write_report(REPORT, tmp_path, "a", env={"GITHUB_STEP_SUMMARY": str(summary)})
    write_report(REPORT, tmp_path, "b", env={"GITHUB_STEP_SUMMARY": str(summary)})

    text = summary.read_text()
    assert text.startswith("earlier step\n### Image size")
    assert text.count("### Image size") == 2


def test_no_summary_is_written_without_the_variable(tmp_path: Path) -> None:
    write_report(REPORT, tmp_path / "r", "size", env={})

    assert sorted(path.name for path in (tmp_path / "r").iterdir()) == ["size.json", "size.md"]


@pytest.mark.parametrize("stem", ["", "../x", ".hidden"])
def test_report_names_must_be_plain_stems(tmp_path: Path, stem: str) -> None:
    with pytest.raises(ConfigError):
        write_report(REPORT, tmp_path, stem)


def test_default_report_dir_is_under_build() -> None:
    assert default_report_dir(Path("/p")) == Path("/p/build/reports")
