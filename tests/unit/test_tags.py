"""The alias rules: which tags a release writes, and the immutable version tag."""

from __future__ import annotations

import pytest
import semver

from build_tools.errors import ReleaseError
from build_tools.tags import (
    TagAction,
    decide_alias_tag,
    decide_version_tag,
    is_version_tag,
    plan_tags,
    published_versions,
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


def test_the_commit_tag_needs_a_commit_id() -> None:
    with pytest.raises(ReleaseError, match="abbreviated git commit id"):
        plan_tags(V("1.0.0"), [], "main")


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


def test_a_malformed_digest_is_refused() -> None:
    with pytest.raises(ReleaseError, match="sha256"):
        decide_alias_tag(None, "latest")
