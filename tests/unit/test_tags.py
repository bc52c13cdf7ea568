"""The alias rules: which tags a release writes, and the immutable version tag."""

from __future__ import annotations

import pytest
import semver

from build_tools.errors import ReleaseError
from build_tools.release.tags import (
    MAX_TAG_LENGTH,
    TagAction,
    check_release_tags,
    check_tag,
    decide_alias_tag,
    decide_version_tag,
    is_version_tag,
    plan_tags,
    published_versions,
    sha_tag,
    version_tags,
)

V = semver.Version.parse
SHA = "abc1234"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def tags(version: str, *published: str) -> tuple[str, ...]:
    return plan_tags(V(version), [V(p) for p in published], SHA)


def test_first_release_gets_every_alias_in_write_order() -> None:
    assert tags("1.0.0") == ("1.0.0", "v1.0.0", "sha-abc1234", "1.0", "1", "latest")


def test_a_prerelease_gets_only_its_own_tag_and_the_commit_tag() -> None:
    assert tags("1.1.0-rc.1", "1.0.0") == ("1.1.0-rc.1", "v1.1.0-rc.1", "sha-abc1234")
    assert tags("3.0.0-rc.1", "1.0.0", "2.0.0") == ("3.0.0-rc.1", "v3.0.0-rc.1", "sha-abc1234")


def test_a_new_highest_release_moves_everything() -> None:
    assert tags("1.1.0", "1.0.0", "1.1.0-rc.1") == (
        "1.1.0",
        "v1.1.0",
        "sha-abc1234",
        "1.1",
        "1",
        "latest",
    )


def test_a_new_major_starts_its_own_aliases_and_takes_latest() -> None:
    assert tags("2.0.0", "1.0.0", "1.1.0") == (
        "2.0.0",
        "v2.0.0",
        "sha-abc1234",
        "2.0",
        "2",
        "latest",
    )


def test_a_backport_moves_its_line_but_never_latest() -> None:
    published = ("1.0.0", "1.1.0-rc.1", "1.1.0", "2.0.0")
    assert tags("1.1.1", *published) == ("1.1.1", "v1.1.1", "sha-abc1234", "1.1", "1")
    assert tags("1.4.3", "1.4.2", "2.0.0") == ("1.4.3", "v1.4.3", "sha-abc1234", "1.4", "1")
    assert tags("1.4.3", "1.4.2", "1.5.0", "2.0.0") == ("1.4.3", "v1.4.3", "sha-abc1234", "1.4")


def test_a_patch_of_an_old_minor_moves_only_its_minor() -> None:
    assert tags("1.0.1", "1.0.0", "1.1.0") == ("1.0.1", "v1.0.1", "sha-abc1234", "1.0")


def test_published_prereleases_never_hold_aliases_back() -> None:
    assert tags("1.1.0", "1.0.0", "1.2.0-rc.1") == (
        "1.1.0",
        "v1.1.0",
        "sha-abc1234",
        "1.1",
        "1",
        "latest",
    )


def test_republishing_the_same_version_keeps_its_aliases() -> None:
    assert tags("2.0.0", "1.0.0", "2.0.0") == (
        "2.0.0",
        "v2.0.0",
        "sha-abc1234",
        "2.0",
        "2",
        "latest",
    )


@pytest.mark.parametrize("short_sha", ["main", "abc1234\n", "ABC1234", "abc123", "a" * 41])
def test_the_commit_tag_needs_a_commit_id(short_sha: str) -> None:
    with pytest.raises(ReleaseError, match="abbreviated git commit id"):
        plan_tags(V("1.0.0"), [], short_sha)


def test_the_longest_commit_tag_is_a_valid_docker_tag() -> None:
    assert check_tag(sha_tag("f" * 40)) == "sha-" + "f" * 40


# Major zero: no `0` alias (docker/metadata-action's default), `0.Y` and `latest` kept.


def test_a_first_0x_release_gets_no_major_alias() -> None:
    assert tags("0.1.0") == ("0.1.0", "v0.1.0", "sha-abc1234", "0.1", "latest")


def test_0x_releases_move_their_minor_and_latest_only() -> None:
    assert tags("0.2.0", "0.1.0") == ("0.2.0", "v0.2.0", "sha-abc1234", "0.2", "latest")
    assert tags("0.1.1", "0.1.0", "0.2.0") == ("0.1.1", "v0.1.1", "sha-abc1234", "0.1")


def test_1_0_0_after_0x_starts_the_major_alias() -> None:
    assert tags("1.0.0", "0.1.0", "0.2.0") == (
        "1.0.0",
        "v1.0.0",
        "sha-abc1234",
        "1.0",
        "1",
        "latest",
    )


def test_release_tags_are_every_tag_naming_the_version() -> None:
    assert check_release_tags(V("1.2.3")) == ("1.2.3", "v1.2.3", "1.2", "1")
    assert check_release_tags(V("0.3.0")) == ("0.3.0", "v0.3.0", "0.3")
    assert check_release_tags(V("1.3.0-rc.2")) == ("1.3.0-rc.2", "v1.3.0-rc.2")


# Docker's tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, the whole string.


@pytest.mark.parametrize("tag", ["1.2.3", "v1.2.3-rc.1", "latest", "_x", "a" * MAX_TAG_LENGTH])
def test_docker_tags_pass(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-x", ".x", "1.2.3+b", "a/b", "a:b", "x y", "latest\n"])
def test_strings_docker_cannot_tag_are_refused(tag: str) -> None:
    with pytest.raises(ReleaseError, match=r"Docker tags are \[A-Za-z0-9_\]"):
        check_tag(tag)


def _version_of_length(length: int) -> semver.Version:
    return V("1.0." + "1" * (length - len("1.0.")))


def test_the_longest_taggable_version_is_planned() -> None:
    version = _version_of_length(MAX_TAG_LENGTH - 1)  # vX.Y.Z is then exactly 128
    planned = plan_tags(version, [], SHA)
    assert max(len(tag) for tag in planned) == MAX_TAG_LENGTH
    assert check_release_tags(version)[1] == "v" + str(version)


def test_a_version_whose_tags_exceed_128_characters_is_refused_in_one_line() -> None:
    version = _version_of_length(MAX_TAG_LENGTH)
    with pytest.raises(ReleaseError) as planned:
        plan_tags(version, [], SHA)
    with pytest.raises(ReleaseError) as released:
        check_release_tags(version)
    for refused in (planned, released):
        message = str(refused.value)
        assert "\n" not in message
        assert "129 characters long and Docker allows at most 128" in message
        assert len(message) < 200  # the version is abbreviated, not repeated in full


def test_build_metadata_is_refused_never_tagged() -> None:
    with pytest.raises(ReleaseError, match=r"build metadata .* Release 1\.2\.3 instead"):
        plan_tags(V("1.2.3+build.5"), [], SHA)
    with pytest.raises(ReleaseError, match="build metadata"):
        check_release_tags(V("1.2.3-rc.1+b"))


def test_version_tags_with_a_trailing_newline_are_not_versions() -> None:
    assert published_versions(["1.0.0\n", "v1.1.0\n", "1.2.0"]) == (V("1.2.0"),)


def test_published_versions_ignore_aliases_and_foreign_tags() -> None:
    found = published_versions(["latest", "1", "1.0", "1.0.0", "sha-abc1234", "2.0.0-rc.1", "x"])
    assert found == (V("1.0.0"), V("2.0.0-rc.1"))


def test_published_versions_read_both_spellings_once() -> None:
    # A registry written before the v-tags existed, or only by the v-spelling, counts too.
    found = published_versions(["1.0.0", "v1.0.0", "v1.1.0", "v1.2.0-rc.1", "v1.0", "vlatest"])
    assert found == (V("1.0.0"), V("1.1.0"), V("1.2.0-rc.1"))


def test_both_version_spellings_are_the_immutable_tags() -> None:
    assert version_tags(V("1.2.3")) == ("1.2.3", "v1.2.3")
    assert version_tags(V("1.3.0-rc.2")) == ("1.3.0-rc.2", "v1.3.0-rc.2")
    for tag in ("1.2.3", "v1.2.3", "v1.3.0-rc.2"):
        assert is_version_tag(tag)
    for tag in ("latest", "1.2", "v1", "sha-abc1234", "vv1.2.3", "V1.2.3"):
        assert not is_version_tag(tag)


def test_version_tag_is_created_kept_or_refused() -> None:
    assert decide_version_tag("1.0.0", None, D1) is TagAction.CREATE
    assert decide_version_tag("1.0.0", D1, D1) is TagAction.UNCHANGED
    with pytest.raises(ReleaseError, match="immutable"):
        decide_version_tag("1.0.0", D1, D2)
    with pytest.raises(ReleaseError, match=r"Publishing tag v1\.0\.0 failed .*immutable"):
        decide_version_tag("v1.0.0", D1, D2)


def test_alias_tags_move() -> None:
    assert decide_alias_tag(None, D1) is TagAction.CREATE
    assert decide_alias_tag(D1, D1) is TagAction.UNCHANGED
    assert decide_alias_tag(D1, D2) is TagAction.MOVE


@pytest.mark.parametrize("digest", ["latest", D1 + "\n", D1.upper(), D1[:-1]])
def test_a_malformed_digest_is_refused(digest: str) -> None:
    with pytest.raises(ReleaseError, match="sha256"):
        decide_alias_tag(None, digest)
