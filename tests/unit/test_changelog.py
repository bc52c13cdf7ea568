"""The _changelog/ convention: names, front matter, creation, and assembled notes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from build_tools import changelog
from build_tools.changelog import (
    Entry,
    assemble_notes,
    changed_entry_paths,
    check_name,
    check_tree,
    create_entry,
    parse_entry,
    slugify,
)
from build_tools.errors import ReleaseError

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
