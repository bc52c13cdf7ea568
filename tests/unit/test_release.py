"""Release planning without git: version edits, lock consistency, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import semver

from build_tools.errors import GitError, ReleaseError
from build_tools.release import (
    LOCK,
    PACKAGE_INIT,
    PYPROJECT,
    lock_problems,
    plan_release,
    set_package_version,
    set_pyproject_version,
)
from tests.unit.fakes import FakeHost

V = semver.Version.parse
PYPROJECT_TEXT = """\
[project]
name = "agent-runner"
# bumped by nox -s release; keep this comment
version   = "1.0.0"  # trailing comment
dependencies = [
    "temporalio>=1.35.0",
    "langchain_core>=0.3",  # underscores normalize
]

[tool.x]
a = 1
"""
LOCK_TEXT = """\
# header
langchain-core==0.3.1 \\
    --hash=sha256:00
temporalio==1.35.0 \\
    --hash=sha256:11
"""
ENTRY = "2026-03/2026-03-04-050607-fix.md"


def test_pyproject_bump_changes_only_the_version() -> None:
    bumped = set_pyproject_version(PYPROJECT_TEXT, V("1.1.0"))
    assert bumped == PYPROJECT_TEXT.replace('"1.0.0"', '"1.1.0"')


def test_pyproject_without_a_static_version_is_refused() -> None:
    with pytest.raises(ReleaseError, match="no static"):
        set_pyproject_version('[project]\nname = "x"\ndynamic = ["version"]\n', V("1.0.0"))


def test_package_version_follows_and_must_agree() -> None:
    text = '"""Doc."""\n\n__version__ = "1.0.0"\n'
    assert set_package_version(text, "1.0.0", V("1.1.0")) == text.replace("1.0.0", "1.1.0")
    with pytest.raises(ReleaseError, match=r"__version__ is \['1.0.0'\], not the pyproject's 0.9"):
        set_package_version(text, "0.9.0", V("1.1.0"))


def test_a_consistent_lock_has_no_problems() -> None:
    assert lock_problems(PYPROJECT_TEXT, LOCK_TEXT, V("1.1.0")) == []


def test_a_dependency_missing_from_the_lock_is_reported() -> None:
    lock = LOCK_TEXT.replace("temporalio==1.35.0", "other==1")
    assert lock_problems(PYPROJECT_TEXT, lock, V("1.1.0")) == [
        f"'temporalio>=1.35.0' is not pinned in {LOCK}"
    ]


def test_a_lock_pinning_the_package_at_another_version_is_reported() -> None:
    lock = LOCK_TEXT + "agent-runner==1.0.0\n"
    assert lock_problems(PYPROJECT_TEXT, lock, V("1.1.0")) == [
        f"{LOCK} pins agent-runner itself at 1.0.0"
    ]


def _project(root: Path) -> None:
    (root / "agent-runner/src/agent_runner").mkdir(parents=True)
    (root / PYPROJECT).write_text(PYPROJECT_TEXT)
    (root / LOCK).write_text(LOCK_TEXT)
    (root / PACKAGE_INIT).write_text('__version__ = "1.0.0"\n')


def _git(status: str = "", branch: str = "main", tags: str = "v1.0.0\n") -> FakeHost:
    return FakeHost(
        git_answers={
            "status --porcelain --untracked-files=all": status,
            "rev-parse --abbrev-ref HEAD": f"{branch}\n",
            "rev-parse HEAD": "a" * 40 + "\n",
            "tag --list v*": tags,
            "tag --merged HEAD --list v*": tags,
            "diff --name-only --diff-filter=A v1.0.0 HEAD -- _changelog": f"_changelog/{ENTRY}\n",
            f"show HEAD:_changelog/{ENTRY}": "---\ntype: fix\nsummary: A fix\n---\n",
        }
    )


def test_plan_computes_every_write(tmp_path: Path) -> None:
    _project(tmp_path)
    plan = plan_release(tmp_path, _git(), "minor", published=["1.0.0"])
    assert (plan.version, plan.tag, plan.previous) == (V("1.1.0"), "v1.1.0", V("1.0.0"))
    assert set(plan.files) == {PYPROJECT, PACKAGE_INIT}
    assert plan.files[PACKAGE_INIT][1] == '__version__ = "1.1.0"\n'
    assert plan.notes == "# agent-runner 1.1.0\n\n## Fixes\n\n- A fix\n"
    assert "annotated tag: v1.1.0" in plan.describe()


def test_notes_from_a_stigmer_style_history(tmp_path: Path) -> None:
    """Entries kept as upstream Stigmer keeps them (no front matter, some at the root, a
    tooling folder) feed the notes as they are."""
    _project(tmp_path)
    host = _git()
    added = [
        "_changelog/_rules/create-an-entry.mdc",
        "_changelog/2026-01-19-080000-add-the-status-command.md",
        "_changelog/2026-01/20260120-101010-survive-a-temporal-restart.md",
    ]
    host.git_answers["diff --name-only --diff-filter=A v1.0.0 HEAD -- _changelog"] = "\n".join(
        added
    )
    host.git_answers[f"show HEAD:{added[1]}"] = (
        "# Add the Status Command\n\n**Date**: 2026-01-19  \n**Type**: Feature  \n\nProse.\n"
    )
    host.git_answers[f"show HEAD:{added[2]}"] = (
        "# Survive a Temporal Restart\n\n**Date:** 2026-01-20  \n**Type:** Bug Fix\n"
    )
    plan = plan_release(tmp_path, host, "minor", published=["1.0.0"])
    assert plan.notes == (
        "# agent-runner 1.1.0\n\n## Features\n\n- Add the Status Command\n\n"
        "## Fixes\n\n- Survive a Temporal Restart\n"
    )
    assert ("git", ("show", f"HEAD:{added[0]}")) not in host.calls  # not an entry: not read


def test_a_dirty_tree_is_refused_before_anything_else(tmp_path: Path) -> None:
    host = _git(status=" M agent-runner/pyproject.toml\n")
    with pytest.raises(GitError, match="working tree is not clean"):
        plan_release(tmp_path, host, "patch", published=[])
    assert len(host.calls) == 1


def test_a_feature_branch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="only from main"):
        plan_release(tmp_path, _git(branch="feature/x"), "patch", published=[])


def test_a_version_already_in_the_registry_is_refused(tmp_path: Path) -> None:
    _project(tmp_path)
    with pytest.raises(ReleaseError, match=r"tag v1\.1\.0 already exists"):
        plan_release(tmp_path, _git(), "1.1.0", published=["1.0.0", "1.1.0"])


def test_a_release_without_new_changelog_entries_is_refused(tmp_path: Path) -> None:
    _project(tmp_path)
    host = _git()
    host.git_answers["diff --name-only --diff-filter=A v1.0.0 HEAD -- _changelog"] = ""
    with pytest.raises(ReleaseError, match=r"no changelog entry was added since 1\.0\.0"):
        plan_release(tmp_path, host, "patch", published=[])


def test_an_inconsistent_lock_is_refused(tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / LOCK).write_text("# empty\n")
    with pytest.raises(ReleaseError, match="is not pinned"):
        plan_release(tmp_path, _git(), "patch", published=[])
