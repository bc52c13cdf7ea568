"""Which image tags a release writes, and whether an existing tag may be (re)written.

Pure: the registry's current state comes in as arguments. Rules:
- `X.Y.Z[-pre]`, `vX.Y.Z[-pre]` and `sha-<short>` always. Both version tags are immutable
  (never moved to another digest): `X.Y.Z` is this project's spelling, `vX.Y.Z` the one the
  Stigmer CLI pulls (its own version, with the `v`);
- a prerelease gets nothing else;
- a stable release moves `X.Y` / `X` only when it is the highest stable release of that
  line, and `latest` only when it is the highest stable release overall, so a 1.4.3
  backport after 2.0.0 moves `1.4` and `1` but never `latest`;
- a `0.x` release gets no `0` alias (as docker/metadata-action): below 1.0 every minor may
  break, so `0` would carry its users across breaking changes. `0.Y` and `latest` it gets;
- build metadata (`+...`) is refused, never stripped: Docker tags cannot spell `+`, and two
  builds of one version would otherwise share its immutable tags;
- every tag is checked against Docker's tag grammar before it is returned, so a version too
  long to tag is refused while planning, before any git or registry write.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum

import semver

from build_tools.errors import ReleaseError
from build_tools.release.versioning import is_version, tag_for, version_from_tag

LATEST = "latest"
MAX_TAG_LENGTH = 128
# Docker's tag grammar (distribution's reference grammar); always used with fullmatch.
_DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_SHORT_SHA = re.compile(r"[0-9a-f]{7,40}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def check_tag(tag: str) -> str:
    """`tag` itself when Docker accepts it as a tag; otherwise a one-line ReleaseError."""
    if _DOCKER_TAG.fullmatch(tag) is not None:
        return tag
    shown = repr(tag if len(tag) <= 40 else tag[:40] + "...")
    if len(tag) > MAX_TAG_LENGTH:
        because = f"it is {len(tag)} characters long and Docker allows at most {MAX_TAG_LENGTH}"
    else:
        because = "Docker tags are [A-Za-z0-9_][A-Za-z0-9_.-]* (no +, /, : or spaces)"
    raise ReleaseError(f"Planning tag {shown}", because, "Pick a shorter, plain X.Y.Z version.")


def sha_tag(short_sha: str) -> str:
    if _SHORT_SHA.fullmatch(short_sha) is None:
        raise ReleaseError(
            f"Naming the commit tag for {short_sha!r}",
            "it is not an abbreviated git commit id",
            "Pass `git rev-parse --short HEAD` output.",
        )
    return f"sha-{short_sha}"


def version_tags(version: semver.Version) -> tuple[str, str]:
    """The immutable tags of a release, in write order: `X.Y.Z`, then `vX.Y.Z` (also its git
    tag). Refuses build metadata and anything Docker cannot tag."""
    if version.build:
        raise ReleaseError(
            f"Tagging {version}",
            "build metadata (+...) is not part of a release version",
            f"Release {version.replace(build=None)} instead.",
        )
    return (check_tag(str(version)), check_tag(tag_for(version)))


def alias_tags(version: semver.Version) -> tuple[str, ...]:
    """The line aliases a stable release may move: `X.Y`, and `X` from 1.0 on."""
    if version.prerelease:
        return ()
    minor = f"{version.major}.{version.minor}"
    return (minor, str(version.major)) if version.major else (minor,)


def check_release_tags(version: semver.Version) -> tuple[str, ...]:
    """Every tag naming `version` that releasing and publishing it may write (git tag and
    image tags), each checked; `sha-<short>` and `latest` are valid by construction."""
    return (*version_tags(version), *(check_tag(alias) for alias in alias_tags(version)))


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
    minor_alias, *major_alias = alias_tags(version)
    if _is_highest(version, same_minor):
        planned.append(minor_alias)
    if major_alias and _is_highest(version, same_major):
        planned.append(major_alias[0])
    if _is_highest(version, stable):
        planned.append(LATEST)
    return tuple(check_tag(tag) for tag in planned)


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
    if _DIGEST.fullmatch(digest) is None:
        raise ReleaseError(
            f"Comparing digest {digest!r}", "it is not a sha256 digest", "Pass sha256:<64 hex>."
        )
