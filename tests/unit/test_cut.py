"""Release planning without git: version edits, lock consistency, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import semver

from build_tools.cli import run
from build_tools.errors import GitError, ReleaseError
from build_tools.project import RUNNER_LOCK, RUNNER_PACKAGE_INIT, RUNNER_PYPROJECT
from build_tools.release.cut import (
    execute_release,
    lock_problems,
    manifest_version,
    plan_release,
    set_package_version,
    set_pyproject_version,
)
from build_tools.release.versioning import parse_request
from tests.unit.fakes import FakeHost

V = semver.Version.parse
R = parse_request
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
        f"'temporalio>=1.35.0' is not pinned in {RUNNER_LOCK}"
    ]


def test_a_lock_pinning_the_package_at_another_version_is_reported() -> None:
    lock = LOCK_TEXT + "agent-runner==1.0.0\n"
    assert lock_problems(PYPROJECT_TEXT, lock, V("1.1.0")) == [
        f"{RUNNER_LOCK} pins agent-runner itself at 1.0.0"
    ]


def _project(root: Path, version: str = "1.0.0") -> None:
    (root / "agent-runner/src/agent_runner").mkdir(parents=True)
    (root / RUNNER_PYPROJECT).write_text(PYPROJECT_TEXT.replace('"1.0.0"', f'"{version}"'))
    (root / RUNNER_LOCK).write_text(LOCK_TEXT)
    (root / RUNNER_PACKAGE_INIT).write_text(f'__version__ = "{version}"\n')


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
    plan = plan_release(tmp_path, _git(), R("minor"), published=[V("1.0.0")])
    assert (plan.version, plan.tag, plan.previous) == (V("1.1.0"), "v1.1.0", V("1.0.0"))
    assert set(plan.files) == {RUNNER_PYPROJECT, RUNNER_PACKAGE_INIT}
    assert plan.files[RUNNER_PACKAGE_INIT][1] == '__version__ = "1.1.0"\n'
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
    plan = plan_release(tmp_path, host, R("minor"), published=[V("1.0.0")])
    assert plan.notes == (
        "# agent-runner 1.1.0\n\n## Features\n\n- Add the Status Command\n\n"
        "## Fixes\n\n- Survive a Temporal Restart\n"
    )
    assert ("git", ("show", f"HEAD:{added[0]}")) not in host.calls  # not an entry: not read


def test_a_dirty_tree_is_refused_before_anything_else(tmp_path: Path) -> None:
    host = _git(status=" M agent-runner/pyproject.toml\n")
    with pytest.raises(GitError, match="working tree is not clean"):
        plan_release(tmp_path, host, R("patch"), published=[])
    assert len(host.calls) == 1


def test_a_feature_branch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="only from main"):
        plan_release(tmp_path, _git(branch="feature/x"), R("patch"), published=[])


def test_a_version_already_in_the_registry_is_refused(tmp_path: Path) -> None:
    _project(tmp_path)
    with pytest.raises(ReleaseError, match=r"tag v1\.1\.0 already exists"):
        plan_release(tmp_path, _git(), R("1.1.0"), published=[V("1.0.0"), V("1.1.0")])


def test_a_release_without_new_changelog_entries_is_refused(tmp_path: Path) -> None:
    _project(tmp_path)
    host = _git()
    host.git_answers["diff --name-only --diff-filter=A v1.0.0 HEAD -- _changelog"] = ""
    with pytest.raises(ReleaseError, match=r"no changelog entry was added since 1\.0\.0"):
        plan_release(tmp_path, host, R("patch"), published=[])


def test_an_inconsistent_lock_is_refused(tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / RUNNER_LOCK).write_text("# empty\n")
    with pytest.raises(ReleaseError, match="is not pinned"):
        plan_release(tmp_path, _git(), R("patch"), published=[])


def test_the_manifest_version_must_be_a_release_version() -> None:
    assert manifest_version(PYPROJECT_TEXT) == V("1.0.0")
    for declared in ("0.1.0.dev0", "1.0.0\\n", "v1.0.0"):
        with pytest.raises(ReleaseError, match="is not a release version"):
            manifest_version(PYPROJECT_TEXT.replace('"1.0.0"', f'"{declared}"'))


# A fresh repository: no tags at all, the pyproject at 0.1.0, one changelog entry.
HEAD = "a" * 40
NOTES = "# agent-runner {}\n\n## Fixes\n\n- A fix\n"


def _fresh(tmp_path: Path) -> FakeHost:
    _project(tmp_path, "0.1.0")
    host = _git(tags="")
    host.git_answers["ls-tree -r --name-only HEAD -- _changelog"] = f"_changelog/{ENTRY}\n"
    return host


def _files(root: Path) -> dict[Path, bytes]:
    paths = (RUNNER_PYPROJECT, RUNNER_PACKAGE_INIT, RUNNER_LOCK)
    return {path: (root / path).read_bytes() for path in paths}


def _git_verbs(host: FakeHost) -> list[str]:
    return [args[0] for kind, args in host.calls if kind == "git"]


def test_first_release_by_bump_releases_the_next_version_with_a_commit(tmp_path: Path) -> None:
    host = _fresh(tmp_path)
    plan = plan_release(tmp_path, host, R("minor"), published=[])
    assert (plan.version, plan.previous, plan.commit_message) == (V("0.2.0"), None, "Release 0.2.0")
    assert set(plan.files) == {RUNNER_PYPROJECT, RUNNER_PACKAGE_INIT}
    assert plan.notes == NOTES.format("0.2.0")
    host.calls.clear()
    host.git_answers.update(
        {
            f"add -- {RUNNER_PYPROJECT} {RUNNER_PACKAGE_INIT}": "",
            "commit --quiet -m Release 0.2.0": "",
            f"tag --annotate v0.2.0 --cleanup=verbatim -m {plan.notes}": "",
            "rev-parse v0.2.0^{commit}^": HEAD + "\n",  # the release commit's parent
        }
    )
    execute_release(plan, tmp_path, host)
    assert _git_verbs(host) == ["add", "commit", "tag", "rev-parse"]
    assert '"0.2.0"' in (tmp_path / RUNNER_PYPROJECT).read_text()


def test_first_release_of_the_manifest_version_tags_head_without_a_commit(
    tmp_path: Path,
) -> None:
    host = _fresh(tmp_path)
    before = _files(tmp_path)
    plan = plan_release(tmp_path, host, R("0.1.0"), published=[])
    assert (plan.version, plan.tag, plan.files, plan.commit_message) == (
        V("0.1.0"),
        "v0.1.0",
        {},
        None,
    )
    assert "commit: none (the files already say 0.1.0; tag HEAD)" in plan.describe()
    host.calls.clear()
    host.git_answers.update(
        {
            f"tag --annotate v0.1.0 --cleanup=verbatim -m {NOTES.format('0.1.0')}": "",
            "rev-parse v0.1.0^{commit}": HEAD + "\n",  # the tag is on HEAD itself
        }
    )
    execute_release(plan, tmp_path, host)
    assert _git_verbs(host) == ["tag", "rev-parse"]  # never an (empty) commit
    assert _files(tmp_path) == before


@pytest.mark.parametrize(
    ("requested", "why"),
    [
        ("0.0.0", r"below 0\.1\.0, the version the manifest already declares"),
        ("0.1.0-rc.1", r"below 0\.1\.0"),
        ("0.1." + "1" * 130, "characters long and Docker allows at most 128"),
    ],
)
def test_first_release_refusals_come_before_any_write(
    tmp_path: Path, requested: str, why: str
) -> None:
    host = _fresh(tmp_path)
    before = _files(tmp_path)
    with pytest.raises(ReleaseError, match=why) as refused:
        plan_release(tmp_path, host, R(requested), published=[])
    assert "\n" not in str(refused.value)
    assert _git_verbs(host) == ["status", "rev-parse", "rev-parse", "tag"]  # reads only
    assert _files(tmp_path) == before


@pytest.mark.parametrize("requested", ["0.1.0\n", "0.2.0+build.1", "Minor"])
def test_a_malformed_request_is_refused_on_the_command_line_before_any_read(
    tmp_path: Path, requested: str, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _fresh(tmp_path)
    before = _files(tmp_path)
    code = run(["release", requested], {}, host_factory=lambda _env: host, project_root=tmp_path)
    assert code == ReleaseError.exit_code
    error = capsys.readouterr().err
    assert f"Reading version {requested!r} failed because it is not a release version" in error
    assert error.count("\n") == 1  # one line
    assert host.calls == []
    assert _files(tmp_path) == before


def test_a_version_below_the_highest_release_in_the_registry_is_refused(tmp_path: Path) -> None:
    # No local tags (a fresh clone without them) but 0.3.0 is published: 0.2.0 is refused.
    host = _fresh(tmp_path)
    with pytest.raises(ReleaseError, match=r"not greater than the last release 0\.3\.0"):
        plan_release(tmp_path, host, R("0.2.0"), published=[V("0.3.0")])
