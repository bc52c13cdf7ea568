"""Which image tags a release writes, and whether an existing tag may be (re)written.

Pure: the registry's current state comes in as arguments. Rules:
- `X.Y.Z[-pre]`, `vX.Y.Z[-pre]` and `sha-<short>` always. Both version tags are immutable
  (never moved to another digest): `X.Y.Z` is this project's spelling, `vX.Y.Z` the one the
  Stigmer CLI pulls (its own version, with the `v`);
- a prerelease gets nothing else;
- a stable release moves `X.Y` / `X` only when it is the highest stable release of that
  line, and `latest` only when it is the highest stable release overall, so a 1.4.3
  backport after 2.0.0 moves `1.4` and `1` but never `latest`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum

import semver

from build_tools.errors import ReleaseError
from build_tools.versioning import is_version, tag_for, version_from_tag

LATEST = "latest"
_SHORT_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha_tag(short_sha: str) -> str:
    if not _SHORT_SHA.match(short_sha):
        raise ReleaseError(
            f"Naming the commit tag for {short_sha!r}",
            "it is not an abbreviated git commit id",
            "Pass `git rev-parse --short HEAD` output.",
        )
    return f"sha-{short_sha}"


def version_tags(version: semver.Version) -> tuple[str, str]:
    """The immutable tags of a release, in write order: `X.Y.Z`, then `vX.Y.Z`."""
    return (str(version), tag_for(version))


def tag_version(tag: str) -> semver.Version | None:
    """The release a version tag names (`X.Y.Z` or `vX.Y.Z`); None for aliases and others."""
    return semver.Version.parse(tag) if is_version(tag) else version_from_tag(tag)


def is_version_tag(tag: str) -> bool:
    return tag_version(tag) is not None


def published_versions(tags: Iterable[str]) -> tuple[semver.Version, ...]:
    """The release versions among a repository's tags, either spelling, each once."""
    return tuple(sorted({v for tag in tags if (v := tag_version(tag)) is not None}))


def _is_highest(version: semver.Version, others: Iterable[semver.Version]) -> bool:
    # `>=` so that re-publishing the same version keeps (rather than drops) its aliases.
    return all(version >= other for other in others)


def plan_tags(
    version: semver.Version, published: Iterable[semver.Version], short_sha: str
) -> tuple[str, ...]:
    """Tags to point at this release's image, in write order (immutable tags first)."""
    planned = [*version_tags(version), sha_tag(short_sha)]
    if version.prerelease:
        return tuple(planned)
    stable = [other for other in published if not other.prerelease]
    same_minor = [v for v in stable if (v.major, v.minor) == (version.major, version.minor)]
    same_major = [v for v in stable if v.major == version.major]
    if _is_highest(version, same_minor):
        planned.append(f"{version.major}.{version.minor}")
    if _is_highest(version, same_major):
        planned.append(str(version.major))
    if _is_highest(version, stable):
        planned.append(LATEST)
    return tuple(planned)


class TagAction(Enum):
    CREATE = "create"  # the tag does not exist yet
    UNCHANGED = "unchanged"  # it already points at this digest: nothing to write
    MOVE = "move"  # an alias that now points elsewhere


def decide_version_tag(tag: str, existing_digest: str | None, new_digest: str) -> TagAction:
    """A version tag (either spelling) is immutable: create it, accept a same-digest re-run,
    refuse a change."""
    _check_digest(new_digest)
    if existing_digest is None:
        return TagAction.CREATE
    if existing_digest == new_digest:
        return TagAction.UNCHANGED
    raise ReleaseError(
        f"Publishing tag {tag}",
        f"it already points at {existing_digest}, not the new build {new_digest}",
        "Released versions are immutable: release a new version instead.",
    )


def decide_alias_tag(existing_digest: str | None, new_digest: str) -> TagAction:
    """Aliases (X.Y, X, latest, sha-*) may move; writing the same digest again is skipped."""
    _check_digest(new_digest)
    if existing_digest is None:
        return TagAction.CREATE
    return TagAction.UNCHANGED if existing_digest == new_digest else TagAction.MOVE


def _check_digest(digest: str) -> None:
    if not _DIGEST.match(digest):
        raise ReleaseError(
            f"Comparing digest {digest!r}", "it is not a sha256 digest", "Pass sha256:<64 hex>."
        )
