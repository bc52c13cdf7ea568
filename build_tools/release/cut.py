"""`nox -s release -- patch|minor|major|X.Y.Z[-label.N] [--dry-run]`: cut a version.

Plan first, from reads only: clean tree, allowed branch, a new version greater than the
line's last release, not below the pyproject's version and absent from git and the
registry, tags Docker accepts, a lock that matches agent-runner's dependencies, notes from
the changelog entries added since the last release. Then write: the version into
agent-runner's pyproject (tomlkit keeps comments and layout) and package `__version__`,
one commit, one annotated `vX.Y.Z` tag whose message is the release notes. Releasing the
pyproject's own, never released version (a fresh repository's first release, named
explicitly) changes no file: then there is no commit and the tag goes on HEAD.
Any failure while writing restores the files, the index, HEAD and the tag list.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import semver
import tomlkit

from build_tools.config import ToolConfig
from build_tools.errors import BuildToolsError, GitError, ReleaseError
from build_tools.host import Host
from build_tools.options import ReleaseArguments, ReleaseNotesArguments
from build_tools.project import RUNNER_LOCK, RUNNER_PACKAGE_INIT, RUNNER_PYPROJECT, read_exact
from build_tools.release import changelog
from build_tools.release.tags import check_release_tags, published_versions
from build_tools.release.versioning import (
    VersionRequest,
    is_version,
    line_for_branch,
    next_version,
    tag_for,
    version_from_tag,
)

_DUNDER_VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_LOCK_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class ReleasePlan:
    version: semver.Version
    tag: str
    branch: str
    head: str
    previous: semver.Version | None
    files: dict[Path, tuple[str, str]]  # relative path -> (current text, new text); changed only
    commit_message: str | None  # None: the files already say `version`, the tag goes on HEAD
    notes: str

    def describe(self) -> str:
        commit = self.commit_message or f"none (the files already say {self.version}; tag HEAD)"
        lines = [
            f"release {self.version} from {self.branch} at {self.head[:12]}"
            f" (previous release: {self.previous or 'none'})",
            *(f"  write {path}" for path in self.files),
            f"  commit: {commit}",
            f"  annotated tag: {self.tag}",
            "  notes:",
            *(f"    {line}" for line in self.notes.splitlines()),
        ]
        return "\n".join(lines)


def _project_table(document: Mapping[str, Any], what: str) -> Any:
    project = document.get("project")
    if project is None or "version" not in project:
        raise ReleaseError(
            what, "it has no static [project] version", 'Declare version = "X.Y.Z" in it.'
        )
    return project


def manifest_version(text: str) -> semver.Version:
    """The pyproject's `project.version`, which must itself be a release version."""
    declared = str(_project_table(tomllib.loads(text), f"Reading {RUNNER_PYPROJECT}")["version"])
    if not is_version(declared):
        raise ReleaseError(
            f"Reading {RUNNER_PYPROJECT}",
            f"its version {declared!r} is not a release version (X.Y.Z[-label.N])",
            "Set it to the last released version (or 0.1.0 before the first release), "
            "commit, and retry.",
        )
    return semver.Version.parse(declared)


def set_pyproject_version(text: str, version: semver.Version) -> str:
    """The same document with only `project.version` changed."""
    document = tomlkit.parse(text)
    _project_table(document, f"Bumping {RUNNER_PYPROJECT}")["version"] = str(version)
    return tomlkit.dumps(document)


def set_package_version(text: str, expected: str, version: semver.Version) -> str:
    found = _DUNDER_VERSION.findall(text)
    if found != [expected]:
        raise ReleaseError(
            f"Bumping {RUNNER_PACKAGE_INIT}",
            f"its __version__ is {found or 'missing'}, not the pyproject's {expected}",
            "Make both say the same version (or drop __version__), commit, and retry.",
        )
    return _DUNDER_VERSION.sub(f'__version__ = "{version}"', text)


def lock_problems(pyproject_text: str, lock_text: str, version: semver.Version) -> list[str]:
    """Why the lock does not match agent-runner's dependencies; empty when consistent."""
    document = tomllib.loads(pyproject_text)
    wanted = [str(item) for item in document.get("project", {}).get("dependencies", [])]
    pins = {_normalize(name): pin for name, pin in _LOCK_PIN.findall(lock_text)}
    problems = []
    for requirement in wanted:
        match = _REQUIREMENT_NAME.match(requirement)
        if match and _normalize(match[1]) not in pins:
            problems.append(f"{requirement!r} is not pinned in {RUNNER_LOCK}")
    own = pins.get(_normalize(str(document["project"]["name"])))
    if own is not None and own != str(version):
        problems.append(f"{RUNNER_LOCK} pins agent-runner itself at {own}")
    return problems


def _git_lines(host: Host, root: Path, *args: str) -> list[str]:
    return [line for line in host.git.run(list(args), cwd=root).splitlines() if line.strip()]


def previous_release(
    root: Path, host: Host, until: str, version: semver.Version
) -> semver.Version | None:
    """The highest release tag reachable from `until`, other than `version` itself."""
    merged = _git_lines(host, root, "tag", "--merged", until, "--list", "v*")
    reachable = [v for t in merged if (v := version_from_tag(t)) is not None and v != version]
    return max(reachable) if reachable else None


def entries_since(
    root: Path, host: Host, previous: semver.Version | None, until: str
) -> list[changelog.Entry]:
    """The changelog entries added after release `previous` up to `until` (all if None)."""
    if previous is None:
        added = _git_lines(
            host, root, "ls-tree", "-r", "--name-only", until, "--", changelog.CHANGELOG_DIR
        )
    else:
        diff = ["diff", "--name-only", "--diff-filter=A", tag_for(previous), until, "--"]
        added = _git_lines(host, root, *diff, changelog.CHANGELOG_DIR)

    def read(relative: str) -> str:  # as committed at `until`, whatever is checked out
        return host.git.run(["show", f"{until}:{changelog.CHANGELOG_DIR}/{relative}"], cwd=root)

    paths = changelog.changed_entry_paths(added)
    entries, problems = changelog.read_entries(root, paths, read)
    if problems:
        raise ReleaseError("Assembling release notes", "; ".join(problems), "Fix the entries.")
    return entries


def release_notes(root: Path, host: Host, tag: str) -> str:
    """The notes of an existing release tag, assembled exactly as `release` assembled them."""
    version = version_from_tag(tag)
    if version is None:
        raise ReleaseError(f"Assembling notes for {tag!r}", "it is not a vX.Y.Z tag", "Pass one.")
    entries = entries_since(root, host, previous_release(root, host, tag, version), tag)
    return changelog.assemble_notes(f"agent-runner {version}", entries)


def plan_release(
    root: Path, host: Host, requested: VersionRequest, published: Sequence[semver.Version]
) -> ReleasePlan:
    """Check every precondition and compute every write; touches nothing."""
    dirty = _git_lines(host, root, "status", "--porcelain", "--untracked-files=all")
    if dirty:
        raise GitError(
            "Releasing",
            f"the working tree is not clean ({len(dirty)} changed: {dirty[0].strip()} ...)",
            "Commit or remove the changes, then retry.",
        )
    branch = host.git.run(["rev-parse", "--abbrev-ref", "HEAD"], cwd=root).strip()
    line = line_for_branch(branch)
    head = host.git.run(["rev-parse", "HEAD"], cwd=root).strip()
    local = [v for t in _git_lines(host, root, "tag", "--list", "v*") if (v := version_from_tag(t))]
    in_registry = list(published)
    pyproject_text = read_exact(root / RUNNER_PYPROJECT)
    current = manifest_version(pyproject_text)
    version = next_version(requested, [*local, *in_registry], line, current)
    check_release_tags(version)  # before any write: git's tag and every image tag
    if version in in_registry:
        raise ReleaseError(
            f"Releasing {version}",
            "the registry already has that image tag",
            "Pick a new version; published versions are immutable.",
        )
    previous = previous_release(root, host, "HEAD", version)
    entries = entries_since(root, host, previous, "HEAD")
    if not entries:
        raise ReleaseError(
            f"Releasing {version}",
            f"no changelog entry was added since {previous or 'the start'}",
            'Add one: nox -s changelog -- --type fix "what changed", commit, and retry.',
        )

    files = {RUNNER_PYPROJECT: (pyproject_text, set_pyproject_version(pyproject_text, version))}
    init = root / RUNNER_PACKAGE_INIT
    if init.is_file() and _DUNDER_VERSION.search(init_text := read_exact(init)):
        files[RUNNER_PACKAGE_INIT] = (
            init_text,
            set_package_version(init_text, str(current), version),
        )
    # Only what changes is written: releasing the version already declared commits nothing.
    files = {path: texts for path, texts in files.items() if texts[0] != texts[1]}
    problems = lock_problems(pyproject_text, read_exact(root / RUNNER_LOCK), version)
    if problems:
        raise ReleaseError(
            f"Checking {RUNNER_LOCK}",
            "; ".join(problems),
            "Regenerate the lock (see its header), commit it, and retry.",
        )
    title = f"agent-runner {version}"
    return ReleasePlan(
        version=version,
        tag=tag_for(version),
        branch=branch,
        head=head,
        previous=previous,
        files=files,
        commit_message=f"Release {version}" if files else None,
        notes=changelog.assemble_notes(title, entries),
    )


def execute_release(plan: ReleasePlan, root: Path, host: Host) -> None:
    """Write the plan; on any failure put files, index, HEAD and tags back, then re-raise."""
    tagged = False
    try:
        if plan.commit_message is not None:  # never an empty commit
            for path, (_, new_text) in plan.files.items():
                (root / path).write_bytes(new_text.encode("utf-8"))
            host.git.run(["add", "--", *map(str, plan.files)], cwd=root)
            host.git.run(["commit", "--quiet", "-m", plan.commit_message], cwd=root)
        host.git.run(
            ["tag", "--annotate", plan.tag, "--cleanup=verbatim", "-m", plan.notes], cwd=root
        )
        tagged = True
        _check_tag_parent(plan, root, host)
    except BaseException as failure:
        try:
            _roll_back(plan, root, host, tagged)
        except BuildToolsError as rollback_failure:
            raise GitError(
                f"Rolling back the failed release {plan.version}",
                f"{rollback_failure} (after: {failure})",
                f"Restore by hand: git tag -d {plan.tag}; git reset {plan.head}; git checkout .",
            ) from failure
        raise


def _check_tag_parent(plan: ReleasePlan, root: Path, host: Host) -> None:
    # The tag must name the release commit, whose parent is where we started (or, with no
    # release commit, where we started itself).
    suffix = "^" if plan.commit_message is not None else ""
    tagged = host.git.run(["rev-parse", f"{plan.tag}^{{commit}}{suffix}"], cwd=root).strip()
    if tagged != plan.head:
        raise GitError(f"Tagging {plan.tag}", "the tag is not on the release commit", "Retry.")


def _roll_back(plan: ReleasePlan, root: Path, host: Host, tagged: bool) -> None:
    if tagged or plan.tag in _git_lines(host, root, "tag", "--list", plan.tag):
        host.git.run(["tag", "--delete", plan.tag], cwd=root)
    # --mixed: HEAD and the index go back; the files are then restored byte for byte.
    host.git.run(["reset", "--quiet", "--mixed", plan.head], cwd=root)
    for path, (old_text, _) in plan.files.items():
        (root / path).write_bytes(old_text.encode("utf-8"))


def run_release_notes(args: ReleaseNotesArguments, config: ToolConfig, host: Host) -> int:
    print(release_notes(config.project_root, host, args.tag), end="")
    return 0


def run_release(args: ReleaseArguments, config: ToolConfig, host: Host) -> int:
    root = config.project_root
    published = published_versions(host.registry.tags(f"{config.registry}/{config.image}"))
    plan = plan_release(root, host, args.request, published)
    print(plan.describe())
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    execute_release(plan, root, host)
    print(f"released {plan.version}: push with `git push --atomic origin HEAD {plan.tag}`")
    sys.stdout.flush()
    return 0
