"""Release versions: parsing, bumping and the "greater than the last release" rules.

Versions are `X.Y.Z` or `X.Y.Z-<label>.<N>` (e.g. `1.1.0-rc.1`); git tags are `v` + version.
A release branch limits which versions may be cut from it: `main` cuts anything newer
than every existing release, `release/X` only `X.*.*` and `release/X.Y` only `X.Y.*`
(backports), each newer than the last release of that line.

The manifest version (agent-runner's pyproject) is the current version. `patch|minor|major`
always bump from the higher of it and the line's last release, so a never-released manifest
version (a fresh repository at 0.1.0) is skipped by a bump (`minor` gives 0.2.0); naming it
(`0.1.0`) releases it as it is. Nothing below the manifest version is accepted.
Parsing is strict (whole string, ASCII digits): `1.2.3\n` and `1.2.3+build` are not versions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

import semver

from build_tools.errors import ReleaseError

TAG_PREFIX = "v"
MAIN_BRANCH = "main"
# Always used with fullmatch; [0-9], not \d, which also matches non-ASCII digits.
_NUMBER = r"(0|[1-9][0-9]*)"
_VERSION = re.compile(rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(-[a-z]+\.{_NUMBER})?")
_RELEASE_BRANCH = re.compile(rf"release/{_NUMBER}(?:\.{_NUMBER})?")
_FORMAT_FIX = "Use X.Y.Z or X.Y.Z-<label>.<N> (e.g. 1.4.0 or 1.5.0-rc.1)."


def parse_version(text: str) -> semver.Version:
    """A release version, strictly: no leading `v`, no build metadata, `-label.N` prereleases."""
    if not is_version(text):
        raise ReleaseError(f"Reading version {text!r}", "it is not a release version", _FORMAT_FIX)
    return semver.Version.parse(text)


class Bump(Enum):
    """A release that bumps one part of the version."""

    PATCH = "patch"
    MINOR = "minor"
    MAJOR = "major"


BUMPS = tuple(bump.value for bump in Bump)
# What `release` is asked for: a bump, or an explicit version (parsed once, on the command line).
VersionRequest: TypeAlias = Bump | semver.Version


def parse_request(text: str) -> VersionRequest:
    """`patch|minor|major`, or an explicit release version (strictly, as `parse_version`)."""
    return Bump(text) if text in BUMPS else parse_version(text)


def parse_cli_version(text: str) -> semver.Version:
    """A release version as the Stigmer CLI names it: `X.Y.Z`, or `vX.Y.Z` (its own version)."""
    return parse_version(text.removeprefix(TAG_PREFIX))


def is_version(text: str) -> bool:
    return _VERSION.fullmatch(text) is not None


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
    match = _RELEASE_BRANCH.fullmatch(branch)
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


def next_version(
    requested: VersionRequest,
    existing: Iterable[semver.Version],
    line: Line,
    current: semver.Version | None = None,
) -> semver.Version:
    """Resolve a bump or an explicit version against existing releases, or refuse.

    `current` is the manifest version. A bump starts from the higher of `current` (when it
    lies in the line) and the line's last release; with neither, from the line's X.Y.0 (or
    0.0.0). An explicit version must lie in the line, must not exist, must be greater than
    the line's last release and must not be below `current`: naming `current` itself, never
    released, releases it unchanged.
    """
    existing = list(existing)
    last = last_release(existing, line)
    floor = current if current is not None and line.contains(current) else None
    if isinstance(requested, Bump):
        base = max((v for v in (last, floor) if v is not None), default=None)
        start = base or semver.Version(*(*line.prefix, 0, 0, 0)[:3])
        version = start.next_version(requested.value)
    else:
        version = requested
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
    if floor is not None and version < floor:
        raise ReleaseError(
            what,
            f"it is below {floor}, the version the manifest already declares",
            f"Pick {floor} (to release it as it is) or a higher version, or use patch|minor|major.",
        )
    return version
