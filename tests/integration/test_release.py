"""`release` against real git repositories in temporary directories.

A small project (agent-runner's pyproject with comments, its lock, `__version__`, changelog
entries) is committed in a fresh repository; releases are cut through the command line.
Failure injection: a host whose Nth git call fails proves that a failure at every step
leaves files, index, HEAD and tags exactly as they were. The registry check talks to the
loopback registry under test-release/.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from build_tools.cli import run
from build_tools.errors import GitError
from build_tools.git import Git
from build_tools.host import Host, real_host
from tests.integration.test_publish import delete_all_tags

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "agent-runner"
# The release tooling rewrites only the value below; this comment must survive.
version = "0.1.0"
dependencies = [
    "temporalio>=1.35.0",  # the worker SDK
]
"""
LOCK = "# uv pip compile ...\ntemporalio==1.35.0 \\\n    --hash=sha256:00\n"
INIT = '"""agent-runner."""\n\n__version__ = "0.1.0"\n'


class CountingGit:
    """Real git, except that call number `fail_on` (1-based) raises `error` instead."""

    def __init__(self, git: Git, fail_on: int | None, error: BaseException) -> None:
        self.real = git
        self.fail_on = fail_on
        self.error = error
        self.calls: list[tuple[str, ...]] = []

    def run(self, args: Sequence[str], *, cwd: Path) -> str:
        self.calls.append(tuple(args))
        if len(self.calls) == self.fail_on:
            raise self.error
        return self.real.run(args, cwd=cwd)


class CountingGitHost:
    """The real host with a `CountingGit`."""

    def __init__(
        self, environ: Mapping[str, str], fail_on: int | None, error: BaseException
    ) -> None:
        real = real_host(environ)
        self.process, self.docker, self.registry = real.process, real.docker, real.registry
        self.git = CountingGit(real.git, fail_on, error)
        self.git_calls = self.git.calls


def _environ(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Release Test",
        "GIT_AUTHOR_EMAIL": "release@test.invalid",
        "GIT_COMMITTER_NAME": "Release Test",
        "GIT_COMMITTER_EMAIL": "release@test.invalid",
        "AGENT_RUNNER_BUILD_REGISTRY": "127.0.0.1:5000",
        "AGENT_RUNNER_BUILD_IMAGE": f"test-release/never-pushed-{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return _environ(tmp_path)


def git(repo: Path, environ: Mapping[str, str], *args: str) -> str:
    return real_host(environ).git.run(list(args), cwd=repo)


def add_entry(repo: Path, environ: Mapping[str, str], stamp: str, summary: str) -> None:
    path = repo / "_changelog" / stamp[:7] / f"{stamp}-{summary.lower().replace(' ', '-')}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntype: fix\nsummary: {summary}\n---\n")
    git(repo, environ, "add", "--", ".")
    git(repo, environ, "commit", "--quiet", "-m", summary)


@pytest.fixture
def repo(tmp_path: Path, environ: dict[str, str]) -> Path:
    root = tmp_path / "project"
    (root / "agent-runner/src/agent_runner").mkdir(parents=True)
    (root / "agent-runner/pyproject.toml").write_text(PYPROJECT)
    (root / "agent-runner/requirements.lock").write_text(LOCK)
    (root / "agent-runner/src/agent_runner/__init__.py").write_text(INIT)
    git(root, environ, "init", "--quiet", "--initial-branch=main")
    git(root, environ, "add", "--", ".")
    git(root, environ, "commit", "--quiet", "-m", "Start")
    add_entry(root, environ, "2026-01-01-000000", "First feature")
    return root


def release(
    repo: Path,
    environ: Mapping[str, str],
    *args: str,
    host_factory: Callable[[Mapping[str, str]], Host] = real_host,
) -> int:
    return run(["release", *args], environ, host_factory=host_factory, project_root=repo)


def snapshot(repo: Path, environ: Mapping[str, str]) -> dict[str, object]:
    """Everything a release could change: refs, index, status and every file's bytes."""
    files = {
        str(path.relative_to(repo)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(repo).parts
    }
    return {
        "refs": git(repo, environ, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(repo, environ, "rev-parse", "HEAD"),
        "index": git(repo, environ, "ls-files", "--stage"),
        "status": git(repo, environ, "status", "--porcelain", "--untracked-files=all"),
        "files": files,
    }


def test_a_release_bumps_commits_and_tags_with_the_notes(
    repo: Path, environ: dict[str, str]
) -> None:
    start = git(repo, environ, "rev-parse", "HEAD").strip()
    assert release(repo, environ, "1.0.0") == 0
    assert git(repo, environ, "describe", "--exact-match").strip() == "v1.0.0"
    assert git(repo, environ, "cat-file", "-t", "v1.0.0").strip() == "tag"  # annotated
    assert git(repo, environ, "rev-parse", "HEAD^").strip() == start
    pyproject = (repo / "agent-runner/pyproject.toml").read_text()
    assert pyproject == PYPROJECT.replace('"0.1.0"', '"1.0.0"')
    assert (
        '__version__ = "1.0.0"' in (repo / "agent-runner/src/agent_runner/__init__.py").read_text()
    )
    message = git(repo, environ, "tag", "--list", "--format=%(contents)", "v1.0.0")
    assert message.startswith("# agent-runner 1.0.0\n\n## Fixes\n\n- First feature\n")
    changed = git(repo, environ, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == [
        "agent-runner/pyproject.toml",
        "agent-runner/src/agent_runner/__init__.py",
    ]
    assert git(repo, environ, "status", "--porcelain") == ""


def test_a_stigmer_style_history_is_released_as_it_is(
    repo: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Entries in upstream Stigmer's shape (H1 title, bold metadata, prose; one at the
    `_changelog/` root, one compact-stamped, a tooling folder) validate and make the notes."""
    assert release(repo, environ, "1.0.0") == 0
    entries = {
        "2026-01-19-080000-add-the-status-command.md": (
            "# Add the Status Command\n\n**Date**: 2026-01-19  \n**Type**: Feature  \n"
            "**Scope**: CLI\n\n## Summary\n\nShows whether the runner polls.\n"
        ),
        "2026-01/20260120-101010-rename-the-queue-variable.md": (
            "# Rename the Queue Variable\n\n**Date:** 2026-01-20  \n**Type:** Refactoring  \n"
            "**Impact:** Breaking change for custom deployments\n\nSet TASK_QUEUE instead.\n"
        ),
        "_rules/how-to-write-entries.mdc": "---\ndescription: rules\n---\nNot an entry.\n",
    }
    for relative, text in entries.items():
        path = repo / "_changelog" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, environ, "add", "--", ".")
    git(repo, environ, "commit", "--quiet", "-m", "Upstream-style entries")
    assert run(["check-changelog"], environ, project_root=repo) == 0
    assert "3 entries, all valid" in capsys.readouterr().out
    assert release(repo, environ, "minor") == 0
    message = git(repo, environ, "tag", "--list", "--format=%(contents)", "v1.1.0")
    assert message.startswith(
        "# agent-runner 1.1.0\n\n## Breaking changes\n\n- Rename the Queue Variable\n\n"
        "  Set TASK_QUEUE instead.\n\n## Features\n\n- Add the Status Command\n"
    )
    assert "First feature" not in message  # released in 1.0.0


def test_a_sequence_with_a_prerelease_and_a_backport(
    repo: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert release(repo, environ, "1.0.0") == 0
    add_entry(repo, environ, "2026-01-02-000000", "Second")
    assert release(repo, environ, "1.1.0-rc.1") == 0
    add_entry(repo, environ, "2026-01-03-000000", "Third")
    assert release(repo, environ, "patch") == 0  # finalizes the prerelease
    add_entry(repo, environ, "2026-01-04-000000", "Fourth")
    assert release(repo, environ, "major") == 0
    # 1.1.1 from main is below 2.0.0: refused; from a release/1.1 branch it is a backport.
    add_entry(repo, environ, "2026-01-05-000000", "Fifth")
    assert release(repo, environ, "1.1.1") == 10
    git(repo, environ, "checkout", "--quiet", "-b", "release/1.1", "v1.1.0")
    add_entry(repo, environ, "2026-01-06-000000", "Backported fix")
    assert release(repo, environ, "patch") == 0
    tags = git(repo, environ, "tag", "--list").split()
    assert tags == ["v1.0.0", "v1.1.0", "v1.1.0-rc.1", "v1.1.1", "v2.0.0"]
    notes = git(repo, environ, "tag", "--list", "--format=%(contents)", "v1.1.1")
    assert "- Backported fix" in notes
    assert "Fourth" not in notes
    notes = git(repo, environ, "tag", "--list", "--format=%(contents)", "v1.1.0")
    assert "- Third" in notes
    assert "Second" not in notes
    # The release workflow re-assembles the notes from the tag; they match the tag message.
    for tag in tags:
        capsys.readouterr()
        assert run(["release-notes", tag], environ, project_root=repo) == 0
        message = git(repo, environ, "tag", "--list", "--format=%(contents)", tag)
        assert capsys.readouterr().out.strip() == message.strip()


def test_dry_run_writes_nothing(
    repo: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(repo, environ)
    assert release(repo, environ, "minor", "--dry-run") == 0
    assert snapshot(repo, environ) == before
    out = capsys.readouterr().out
    # The pyproject says 0.1.0 and nothing is released: a bump gives the next version.
    assert "release 0.2.0 from main" in out
    assert "annotated tag: v0.2.0" in out


def test_a_fresh_repository_releases_its_manifest_version_by_name(
    repo: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """No tags, the pyproject at 0.1.0: below it and untaggable versions are refused
    unwritten; `0.1.0` tags HEAD (no empty commit); `minor` then gives 0.2.0."""
    before = snapshot(repo, environ)
    assert release(repo, environ, "0.0.0") == 10
    assert release(repo, environ, "0.1." + "1" * 130) == 10
    assert snapshot(repo, environ) == before
    errors = capsys.readouterr().err
    assert "below 0.1.0, the version the manifest already declares" in errors
    assert "Docker allows at most 128" in errors
    head = git(repo, environ, "rev-parse", "HEAD")
    assert release(repo, environ, "0.1.0") == 0
    assert "commit: none (the files already say 0.1.0; tag HEAD)" in capsys.readouterr().out
    assert git(repo, environ, "rev-parse", "HEAD") == head  # no commit at all
    assert git(repo, environ, "rev-parse", "v0.1.0^{commit}") == head
    assert git(repo, environ, "cat-file", "-t", "v0.1.0").strip() == "tag"  # annotated
    assert git(repo, environ, "status", "--porcelain") == ""
    assert run(["release-notes", "v0.1.0"], environ, project_root=repo) == 0
    assert "- First feature" in capsys.readouterr().out
    add_entry(repo, environ, "2026-01-02-000000", "Second")
    assert release(repo, environ, "minor") == 0
    assert git(repo, environ, "describe", "--exact-match").strip() == "v0.2.0"
    assert git(repo, environ, "log", "-1", "--format=%s").strip() == "Release 0.2.0"
    assert '"0.2.0"' in (repo / "agent-runner/pyproject.toml").read_text()


def test_preconditions_refuse_without_writing(
    repo: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert release(repo, environ, "1.0.0") == 0
    before = snapshot(repo, environ)
    assert release(repo, environ, "1.0.0") == 10  # tag exists
    assert release(repo, environ, "0.9.0") == 10  # not greater than the last
    assert release(repo, environ, "patch") == 10  # no changelog entry since v1.0.0
    assert snapshot(repo, environ) == before
    (repo / "stray.txt").write_text("x")
    assert release(repo, environ, "patch") == 9  # dirty tree
    (repo / "stray.txt").unlink()
    git(repo, environ, "checkout", "--quiet", "-b", "feature/x")
    assert release(repo, environ, "patch") == 10  # wrong branch
    errors = capsys.readouterr().err
    assert "tag v1.0.0 already exists" in errors
    assert "not greater than the last release 1.0.0" in errors
    assert "no changelog entry was added since 1.0.0" in errors
    assert "working tree is not clean" in errors
    assert "only from main or release/X[.Y]" in errors


def test_a_failure_at_every_git_step_leaves_the_repository_as_it_was(
    repo: Path, environ: dict[str, str]
) -> None:
    assert release(repo, environ, "1.0.0") == 0
    add_entry(repo, environ, "2026-01-02-000000", "Second")
    before = snapshot(repo, environ)
    counter = CountingGitHost(environ, None, GitError("x", "y", "z"))
    # Count the calls of a dry run: every call before the first write is a read.
    assert release(repo, environ, "minor", "--dry-run", host_factory=lambda _: counter) == 0
    reads = len(counter.git_calls)
    # add, commit, tag, and the final tag check: each is a point of failure.
    failed_steps = []
    for fail_on in range(1, reads + 5):
        failing = CountingGitHost(environ, fail_on, GitError("Injected", "a test", "None."))
        code = release(repo, environ, "minor", host_factory=lambda _, h=failing: h)  # type: ignore[misc]
        assert code == 9, (fail_on, failing.git_calls)
        assert snapshot(repo, environ) == before, (fail_on, failing.git_calls[fail_on - 1])
        failed_steps.append(failing.git_calls[fail_on - 1][0])
    assert failed_steps[reads:] == ["add", "commit", "tag", "rev-parse"]
    # Interrupted (Ctrl-C) during the commit: rolled back too, and the interrupt propagates.
    interrupted = CountingGitHost(environ, reads + 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        release(repo, environ, "minor", host_factory=lambda _: interrupted)
    assert snapshot(repo, environ) == before
    # And with nothing injected the same release then succeeds.
    assert release(repo, environ, "minor") == 0
    assert git(repo, environ, "describe", "--exact-match").strip() == "v1.1.0"


@pytest.mark.parametrize("published_tag", ["1.0.0", "v1.0.0"])  # either spelling counts
def test_a_version_already_in_the_registry_is_refused(
    repo: Path,
    environ: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    published_tag: str,
) -> None:
    image = f"test-release/published-{uuid.uuid4().hex[:8]}"
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    host = real_host(os.environ)
    host.docker.ensure()
    host.process.run(
        [
            "docker",
            "buildx",
            "build",
            "--quiet",
            "--provenance=false",
            "--sbom=false",
            "--platform",
            "linux/amd64",
            "--push",
            "-t",
            f"127.0.0.1:5000/{image}:{published_tag}",
            str(context),
        ]
    )
    environ["AGENT_RUNNER_BUILD_IMAGE"] = image
    before = snapshot(repo, environ)
    try:
        assert release(repo, environ, "1.0.0") == 10
    finally:
        delete_all_tags(host, f"127.0.0.1:5000/{image}")
    assert "already exists" in capsys.readouterr().err
    assert snapshot(repo, environ) == before
