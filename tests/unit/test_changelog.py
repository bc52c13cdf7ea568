"""The _changelog/ convention: names, front matter, creation, and assembled notes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from build_tools.errors import ReleaseError
from build_tools.release import changelog
from build_tools.release.changelog import (
    Entry,
    assemble_notes,
    changed_entry_paths,
    check_name,
    check_tree,
    create_entry,
    parse_entry,
    slugify,
)

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
GOOD = "---\ntype: fix\nsummary: Retry a dropped Temporal connection\n---\n\nBody.\n"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_the_real_entries_of_this_repository_are_valid() -> None:
    entries, problems = changelog.read_entries(PROJECT_ROOT)
    assert problems == []
    assert any(e.type == "breaking" and "PyInstaller" in e.body for e in entries)


@pytest.mark.parametrize(
    "name",
    ["2026-03/2026-03-04-050607-retry.md", "2026-12/2026-12-31-235959-a-b-2.md"],
)
def test_valid_names(name: str) -> None:
    assert check_name(name) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("2026-03-04-050607-retry.md", "name is not"),  # no month folder
        ("2026-04/2026-03-04-050607-retry.md", "name is not"),  # wrong month folder
        ("2026-03/2026-03-04-0506-retry.md", "name is not"),  # no seconds
        ("2026-03/2026-03-04-050607-Retry.md", "name is not"),  # upper case slug
        ("2026-03/2026-03-04-050607-retry.txt", "name is not"),
        ("2026-03/2026-03-04-050607-.md", "name is not"),
        ("2026-02/2026-02-30-050607-retry.md", "not a real date"),
        ("2026-03/2026-03-04-256007-retry.md", "not a real date"),
    ],
)
def test_invalid_names_are_reported(name: str, why: str) -> None:
    (problem,) = check_name(name)
    assert problem.startswith(f"_changelog/{name}: ")
    assert why in problem


def test_front_matter_parses() -> None:
    entry, problems = parse_entry("x.md", GOOD)
    assert problems == []
    assert entry == Entry("x.md", "fix", "Retry a dropped Temporal connection", "Body.")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("type: fix\nsummary: s\n", "does not start with a --- front matter"),
        ("---\ntype: fix\nsummary: s\n", "does not start with a --- front matter"),
        ("---\ntype: feat\nsummary: s\n---\n", "type 'feat' is not one of"),
        ("---\ntype: fix\n---\n", "summary is missing"),
        ("---\ntype: fix\nsummary: s\nauthor: me\n---\n", "unexpected front matter line"),
        ("---\ntype: fix\ntype: fix\nsummary: s\n---\n", "type is given twice"),
        ("---\ntype: fix\nsummary: " + "x" * 121 + "\n---\n", "longer than 120"),
    ],
)
def test_bad_front_matter_is_reported(text: str, why: str) -> None:
    entry, problems = parse_entry("x.md", text)
    assert entry is None
    assert any(why in problem for problem in problems), problems


def test_slugs_are_short_lowercase_words() -> None:
    assert slugify("Fix: the CLI's `resolve` command!") == "fix-the-cli-s-resolve-command"
    assert len(slugify("word " * 40)) <= 48
    assert slugify("???") == "change"


def test_create_entry_writes_a_valid_file_named_from_the_clock(tmp_path: Path) -> None:
    path = create_entry(tmp_path, "  Add   the resolve command ", "feature", NOW)
    assert path == tmp_path / "_changelog/2026-03/2026-03-04-050607-add-the-resolve-command.md"
    assert path.read_text() == "---\ntype: feature\nsummary: Add the resolve command\n---\n"
    assert check_tree(tmp_path) == []


def test_create_entry_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="type 'feat' is not one of"):
        create_entry(tmp_path, "Something", "feat", NOW)
    with pytest.raises(ReleaseError, match="summary is missing"):
        create_entry(tmp_path, "   ", "fix", NOW)
    assert not (tmp_path / "_changelog").exists()


def test_create_entry_refuses_to_overwrite(tmp_path: Path) -> None:
    create_entry(tmp_path, "Same", "fix", NOW)
    with pytest.raises(ReleaseError, match="exists"):
        create_entry(tmp_path, "Same", "fix", NOW)


def test_check_tree_reports_every_bad_file_and_skips_the_readme(tmp_path: Path) -> None:
    base = tmp_path / "_changelog"
    (base / "2026-03").mkdir(parents=True)
    (base / "README.md").write_text("# how to\n")
    (base / "2026-03/2026-03-04-050607-ok.md").write_text(GOOD)
    (base / "2026-03/notes.md").write_text(GOOD)
    (base / "2026-03/2026-03-04-050608-bad.md").write_text("---\ntype: oops\nsummary: s\n---\n")
    problems = check_tree(tmp_path)
    assert len(problems) == 2
    assert "notes.md" in problems[1] or "notes.md" in problems[0]


def test_changed_entry_paths_pick_entries_from_a_diff() -> None:
    names = ["README.md", "_changelog/README.md", "_changelog/2026-03/a.md", "src/x.py"]
    assert changed_entry_paths(names) == ["2026-03/a.md"]


def test_notes_group_by_type_in_order_and_keep_breaking_bodies() -> None:
    entries = [
        Entry("2026-03/b.md", "fix", "Second fix", "fix body is not copied"),
        Entry("2026-03/a.md", "fix", "First fix", ""),
        Entry("2026-03/c.md", "breaking", "Docker is required", "### Migration\n\n1. Install"),
        Entry("2026-03/d.md", "chore", "Bump deps", ""),
    ]
    assert assemble_notes("agent-runner 2.0.0", entries) == (
        "# agent-runner 2.0.0\n\n"
        "## Breaking changes\n\n- Docker is required\n\n  ### Migration\n\n  1. Install\n\n"
        "## Fixes\n\n- First fix\n- Second fix\n\n"
        "## Maintenance\n\n- Bump deps\n"
    )


def test_notes_without_entries_say_so() -> None:
    assert "No user-facing changes." in assemble_notes("agent-runner 1.0.1", [])


def test_check_changelog_command_fails_on_a_bad_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from build_tools.cli import run

    assert run(["changelog", "--type", "docs", "Explain releases"], {}, project_root=tmp_path) == 0
    assert "created _changelog/" in capsys.readouterr().out
    assert run(["check-changelog"], {}, project_root=tmp_path) == 0
    assert "1 entries, all valid" in capsys.readouterr().out
    (tmp_path / "_changelog/2026-03").mkdir()
    (tmp_path / "_changelog/2026-03/oops.md").write_text(GOOD)
    assert run(["check-changelog"], {}, project_root=tmp_path) == 10
    errors = capsys.readouterr().err
    assert "_changelog/2026-03/oops.md: name is not YYYY-MM/YYYY-MM-DD-HHMMSS-slug.md" in errors
    assert "1 entry is invalid" in errors


# -- Stigmer's own entry format (no front matter; H1 title, bold metadata, prose) ---------
# Written for these tests in the shape of upstream Stigmer's _changelog/ entries: both
# spellings of the bold keys, Markdown hard breaks (two trailing spaces), a root-level entry,
# compact and date-only stamps, an area folder, and a tooling folder that is not an entry.

STIGMER_HISTORY = {
    "2026-01-18-101500-retry-the-first-temporal-connect.md": (
        "# Retry the First Temporal Connect\n\n"
        "**Date**: 2026-01-18  \n**Type**: Bug Fix  \n**Scope**: Agent Runner  \n"
        "**Impact**: Runs no longer fail while Temporal starts\n\n"
        "## Summary\n\nThe runner now waits for Temporal instead of exiting.\n"
    ),
    "2026-01/2026-01-20-093000-stream-run-output.md": (
        "# Stream Run Output to the Terminal\n\n"
        "**Date:** January 20, 2026  \n**Type:** Feature Implementation  \n"
        "**Scope:** CLI\n\n## What Changed\n\n- `run` follows the execution.\n"
    ),
    "2026-01/20260121-120000-rename-the-queue-flag.md": (
        "# Changelog: Rename the Queue Flag\n\n"
        "**Date**: 2026-01-21 12:00:00  \n**Type**: Refactor + Migration  \n"
        "**Impact**: Breaking Change (flag renamed)\n\n"
        "## Migration\n\nUse `--task-queue` instead of `--queue`.\n"
    ),
    "2026-01/2026-01-22-explain-local-mode.md": (
        "# Explain Local Mode\n\n**Date**: 2026-01-22\n**Type**: Documentation\n\nProse.\n"
    ),
    "sdk/2026-01/20260119-fix-a-flaky-sdk-example.md": (
        "# Fix a Flaky SDK Example\n\n**Date**: 2026-01-19  \n**Scope**: Go SDK\n\nNo Type.\n"
    ),
    "2026-01/checkpoints/2026-01-23-runner-reconnects-after-restart.md": (
        "# Checkpoint: Runner Reconnects After a Restart\n\n**Date**: 2026-01-23  \n"
        "**Status**: Verified\n\nWhere the work stands.\n"
    ),
    "_rules/write-an-entry.mdc": "---\ndescription: how to write an entry\n---\nNot an entry.\n",
}


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / "_changelog" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_stigmer_style_history_validates_and_feeds_the_notes_as_it_is(tmp_path: Path) -> None:
    write_tree(tmp_path, STIGMER_HISTORY)
    entries, problems = changelog.read_entries(tmp_path)
    assert problems == []
    assert len(entries) == 6  # the _rules/ file is not an entry
    assert assemble_notes("agent-runner 1.0.0", entries) == (
        "# agent-runner 1.0.0\n\n"
        "## Breaking changes\n\n- Rename the Queue Flag\n\n"
        "  ## Migration\n\n  Use `--task-queue` instead of `--queue`.\n\n"
        "## Features\n\n- Stream Run Output to the Terminal\n\n"
        "## Fixes\n\n- Retry the First Temporal Connect\n- Fix a Flaky SDK Example\n\n"
        "## Documentation\n\n- Explain Local Mode\n\n"
        "## Maintenance\n\n- Checkpoint: Runner Reconnects After a Restart\n"
    )


def test_a_stigmer_entry_gives_title_summary_and_the_prose_after_the_metadata() -> None:
    relative = "2026-01-18-101500-retry-the-first-temporal-connect.md"
    entry, problems = parse_entry(relative, STIGMER_HISTORY[relative])
    assert problems == []
    assert entry == Entry(
        relative,
        "fix",
        "Retry the First Temporal Connect",
        "## Summary\n\nThe runner now waits for Temporal instead of exiting.",
    )


@pytest.mark.parametrize(
    ("metadata", "title", "expected"),
    [
        ({"type": "Bug Fix (Critical)"}, "x", "fix"),
        ({"type": "fix(cli)"}, "x", "fix"),
        ({"type": "Feature"}, "x", "feature"),
        ({"type": "feat(sdk/codegen)"}, "x", "feature"),
        ({"type": "Enhancement"}, "x", "feature"),
        ({"type": "Bug Fix + Feature Enhancement"}, "x", "fix"),  # the first keyword decides
        ({"type": "Feature Migration"}, "x", "feature"),
        ({"type": "Documentation Improvement"}, "x", "docs"),
        ({"type": "Refactoring / Architecture Improvement"}, "x", "chore"),
        ({"type": "Test Infrastructure"}, "x", "chore"),
        ({"type": "Build System / CI/CD Fix"}, "x", "chore"),
        ({"type": "Something Else Entirely"}, "Fix the thing", "chore"),  # a Type wins
        ({"type": "Security Hardening"}, "x", "security"),
        ({"type": "Feature (Breaking Change)"}, "x", "breaking"),
        ({"type": "Refactor", "impact": "Breaking change in storage"}, "x", "breaking"),
        ({"type": "Refactor", "impact": "Infrastructure - No Breaking Changes"}, "x", "chore"),
        ({"type": "Feature", "impact": "Breaking in a good way"}, "x", "feature"),
        ({"type": "Feature", "breaking": "Yes (API change)"}, "x", "breaking"),
        ({"type": "Feature", "breaking": "No"}, "x", "feature"),
        ({}, "Fix: Runner Cannot Reach Ollama", "fix"),  # no Type: the title's keyword
        ({}, "Implement the Run Command", "feature"),
        ({}, "Improve Command Output", "chore"),
    ],
)
def test_stigmer_types_map_to_ours(metadata: dict[str, str], title: str, expected: str) -> None:
    assert changelog.stigmer_type(metadata, title) == expected


@pytest.mark.parametrize(
    ("relative", "text", "why"),
    [
        ("2026-01/2026-01-05-x.md", "#\n\n**Type**: Fix\n", "H1 title is empty"),
        ("2026-01/2026-01-05-x.md", "# " + "x" * 121 + "\n", "longer than 120"),
        ("2026-02/2026-02-30-x.md", "# T\n", "2026-02-30 is not a real date"),
        ("20261301-x.md", "# T\n", "20261301 is not a real date"),
        ("2026-02/2026-01-05-101500-x.md", "# T\n", "is not in folder 2026-02"),
        ("2026-01/notes.md", "# T\n", "name is not [FOLDER/]STAMP-slug.md"),
        ("2026-01/2026-01-05-Upper.md", "# T\n", "name is not [FOLDER/]STAMP-slug.md"),
        ("2026-01/2026-01-05-x.md", "Just prose.\n", "front matter block or an H1 title"),
        ("2026-01/2026-01-05-x.md", "## Not a title\n", "front matter block or an H1 title"),
    ],
)
def test_bad_stigmer_entries_are_reported(
    tmp_path: Path, relative: str, text: str, why: str
) -> None:
    write_tree(tmp_path, {relative: text})
    entries, problems = changelog.read_entries(tmp_path)
    assert entries == []
    assert len(problems) == 1
    assert problems[0].startswith(f"_changelog/{relative}: ")
    assert why in problems[0]


def test_our_format_keeps_its_strict_names_next_to_stigmer_entries(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "2026-03/2026-03-04-050607-ok.md": GOOD,
            "2026-03-04-050608-ours-at-the-root.md": GOOD,  # ours: must sit in its month
            "2026-03-04-050609-theirs-at-the-root.md": "# Theirs\n\n**Type**: Fix\n",
        },
    )
    entries, problems = changelog.read_entries(tmp_path)
    assert [e.summary for e in entries] == ["Theirs", "Retry a dropped Temporal connection"]
    assert problems == [
        "_changelog/2026-03-04-050608-ours-at-the-root.md: "
        "name is not YYYY-MM/YYYY-MM-DD-HHMMSS-slug.md"
    ]


def test_notes_order_entries_by_their_stamps_wherever_they_sit() -> None:
    entries = [
        Entry("2026-01/20260121-090000-b.md", "fix", "Third", ""),
        Entry("2026-01-20-120000-a.md", "fix", "Second", ""),
        Entry("sdk/2026-01/2026-01-20-c.md", "fix", "First (no time: start of the day)", ""),
    ]
    assert assemble_notes("t", entries).splitlines()[4:] == [
        "- First (no time: start of the day)",
        "- Second",
        "- Third",
    ]


def test_entry_times_from_every_stamp_spelling() -> None:
    assert changelog.entry_time("2026-01/2026-01-20-093000-x.md") == datetime(2026, 1, 20, 9, 30)
    assert changelog.entry_time("20260121-120000-x.md") == datetime(2026, 1, 21, 12)
    assert changelog.entry_time("sdk/2026-01/2026-01-22-x.md") == datetime(2026, 1, 22)
    assert changelog.entry_time("x/20260123-y.md") == datetime(2026, 1, 23)
    assert changelog.entry_time("2026-03/b.md") is None


def test_tooling_folders_are_not_entries_in_a_diff_either() -> None:
    names = [
        "_changelog/_rules/create.mdc",
        "_changelog/2026-01-18-101500-root.md",
        "_changelog/sdk/2026-01/20260119-x.md",
    ]
    assert changed_entry_paths(names) == ["2026-01-18-101500-root.md", "sdk/2026-01/20260119-x.md"]
