"""Release versions: parsing, bumping and the "greater than the last release" rules.

Versions are `X.Y.Z` or `X.Y.Z-<label>.<N>` (e.g. `1.1.0-rc.1`); git tags are `v` + version.
A release branch limits which versions may be cut from it: `main` cuts anything newer
than every existing release, `release/X` only `X.*.*` and `release/X.Y` only `X.Y.*`
(backports), each newer than the last release of that line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import semver

from build_tools.errors import ReleaseError

BUMPS = ("patch", "minor", "major")
TAG_PREFIX = "v"
MAIN_BRANCH = "main"
_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[a-z]+\.(0|[1-9]\d*))?$")
_RELEASE_BRANCH = re.compile(r"^release/(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?$")
_FORMAT_FIX = "Use X.Y.Z or X.Y.Z-<label>.<N> (e.g. 1.4.0 or 1.5.0-rc.1)."


def parse_version(text: str) -> semver.Version:
    """A release version, strictly: no leading `v`, no build metadata, `-label.N` prereleases."""
    if not _VERSION.match(text):
        raise ReleaseError(f"Reading version {text!r}", "it is not a release version", _FORMAT_FIX)
    return semver.Version.parse(text)


def is_version(text: str) -> bool:
    return bool(_VERSION.match(text))


def tag_for(version: semver.Version) -> str:
    return f"{TAG_PREFIX}{version}"


def version_from_tag(tag: str) -> semver.Version | None:
    """The version a `vX.Y.Z` tag names, or None for any other tag."""
    if tag.startswith(TAG_PREFIX) and is_version(tag[len(TAG_PREFIX) :]):
        return semver.Version.parse(tag[len(TAG_PREFIX) :])
    return None


@dataclass(frozen=True)
class Line:
    """The versions a branch may release: a prefix of (major, minor); empty means any."""

    prefix: tuple[int, ...]

    def contains(self, version: semver.Version) -> bool:
        return (version.major, version.minor)[: len(self.prefix)] == self.prefix

    def describe(self) -> str:
        return ".".join(str(part) for part in self.prefix) + ".x" if self.prefix else "any"


def line_for_branch(branch: str) -> Line:
    """Which versions `branch` may release; any other branch is refused."""
    if branch == MAIN_BRANCH:
        return Line(())
    match = _RELEASE_BRANCH.match(branch)
    if match is None:
        raise ReleaseError(
            f"Releasing from branch {branch!r}",
            f"releases are cut only from {MAIN_BRANCH} or release/X[.Y] branches",
            f"Check out {MAIN_BRANCH} (or a release/X.Y branch for a backport) and retry.",
        )
    return Line(tuple(int(part) for part in match.groups() if part is not None))


def last_release(existing: Iterable[semver.Version], line: Line) -> semver.Version | None:
    """The highest existing release (prereleases included) within `line`."""
    candidates = [version for version in existing if line.contains(version)]
    return max(candidates) if candidates else None


def next_version(requested: str, existing: Iterable[semver.Version], line: Line) -> semver.Version:
    """Resolve `patch|minor|major|X.Y.Z[-label.N]` against existing releases, or refuse.

    A bump starts from the last release of the line (0.0.0 if none). An explicit version
    must lie in the line, must not exist, and must be greater than the line's last release.
    """
    existing = list(existing)
    last = last_release(existing, line)
    if requested in BUMPS:
        base = last or semver.Version(*(*line.prefix, 0, 0, 0)[:3])
        version = base.next_version(requested)
    else:
        version = parse_version(requested)
    what = f"Releasing {version}"
    if not line.contains(version):
        raise ReleaseError(
            what,
            f"this branch releases only {line.describe()} versions",
            "Release it from main or from the matching release/X.Y branch.",
        )
    if version in existing:
        raise ReleaseError(what, f"tag {tag_for(version)} already exists", "Pick a new version.")
    if last is not None and version <= last:
        raise ReleaseError(
            what,
            f"it is not greater than the last release {last} of line {line.describe()}",
            f"Pick a version above {last}, or use patch|minor|major.",
        )
    return version
