"""Version parsing, bumping, and the branch-line and greater-than-last rules."""

from __future__ import annotations

import pytest
import semver

from build_tools.errors import ReleaseError
from build_tools.release.versioning import (
    Bump,
    Line,
    is_version,
    line_for_branch,
    next_version,
    parse_request,
    parse_version,
    tag_for,
    version_from_tag,
)

V = semver.Version.parse
R = parse_request  # a request as the command line parses it


@pytest.mark.parametrize("text", ["1.2.3", "0.0.1", "1.1.0-rc.1", "2.0.0-beta.12"])
def test_release_versions_parse(text: str) -> None:
    assert str(parse_version(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "v1.2.3",
        "1.2",
        "01.2.3",
        "1.2.3-rc",
        "1.2.3-RC.1",
        "1.2.3+build.1",
        "1.2.3-rc.01",
        "",
        "1.2.3\n",
        "1.2.3-rc.1\n",
        " 1.2.3",
        "1.2.3 ",
        "1.2.3\n4",
        "1\u0661.2.3",  # an Arabic-Indic digit after the 1: \d would take it
    ],
)
def test_other_strings_are_refused_with_the_expected_form(text: str) -> None:
    assert not is_version(text)
    with pytest.raises(ReleaseError, match=r"Use X\.Y\.Z or X\.Y\.Z-<label>\.<N>"):
        parse_version(text)


def test_tags_round_trip_and_foreign_tags_are_ignored() -> None:
    assert tag_for(V("1.1.0-rc.1")) == "v1.1.0-rc.1"
    assert version_from_tag("v1.1.0-rc.1") == V("1.1.0-rc.1")
    assert version_from_tag("1.1.0") is None
    assert version_from_tag("vnext") is None
    assert version_from_tag("v1.1.0\n") is None


def test_branches_map_to_lines() -> None:
    assert line_for_branch("main") == Line(())
    assert line_for_branch("release/1") == Line((1,))
    assert line_for_branch("release/1.4") == Line((1, 4))


@pytest.mark.parametrize(
    "branch", ["feature/x", "HEAD", "release/1.4.2", "release/x", "master", "release/1\n"]
)
def test_other_branches_are_refused(branch: str) -> None:
    with pytest.raises(ReleaseError, match="only from main or release/X"):
        line_for_branch(branch)


RELEASED = [V("1.0.0"), V("1.1.0-rc.1"), V("1.1.0"), V("2.0.0")]


@pytest.mark.parametrize(
    ("requested", "expected"),
    [("patch", "2.0.1"), ("minor", "2.1.0"), ("major", "3.0.0"), ("2.1.0-rc.1", "2.1.0-rc.1")],
)
def test_main_bumps_from_the_highest_release(requested: str, expected: str) -> None:
    assert next_version(R(requested), RELEASED, Line(())) == V(expected)


def test_first_release_bumps_from_zero() -> None:
    assert next_version(R("minor"), [], Line(())) == V("0.1.0")
    assert next_version(R("1.0.0"), [], Line(())) == V("1.0.0")


def test_a_prerelease_is_finalized_by_a_patch_bump() -> None:
    assert next_version(R("patch"), [V("1.0.0"), V("1.1.0-rc.1")], Line(())) == V("1.1.0")


def test_a_backport_branch_bumps_within_its_line() -> None:
    assert next_version(R("patch"), RELEASED, Line((1, 1))) == V("1.1.1")
    assert next_version(R("1.1.1"), RELEASED, Line((1, 1))) == V("1.1.1")
    assert next_version(R("minor"), RELEASED, Line((1,))) == V("1.2.0")


def test_main_refuses_a_version_below_the_last_release() -> None:
    with pytest.raises(ReleaseError, match=r"not greater than the last release 2\.0\.0"):
        next_version(R("1.1.1"), RELEASED, Line(()))


def test_an_existing_version_is_refused() -> None:
    with pytest.raises(ReleaseError, match=r"tag v1\.1\.0 already exists"):
        next_version(R("1.1.0"), RELEASED, Line((1, 1)))


def test_a_version_outside_the_branch_line_is_refused() -> None:
    with pytest.raises(ReleaseError, match=r"releases only 1\.1\.x versions"):
        next_version(R("2.0.1"), RELEASED, Line((1, 1)))


def test_a_prerelease_below_its_final_release_is_refused() -> None:
    with pytest.raises(ReleaseError, match="not greater than"):
        next_version(R("1.1.0-rc.2"), RELEASED, Line((1, 1)))


# The manifest version (agent-runner's pyproject) is the current version.


def test_a_fresh_manifest_version_is_bumped_from_not_reused() -> None:
    # No tags, pyproject at 0.1.0: a bump gives the next version, never 0.1.0 again.
    assert next_version(R("patch"), [], Line(()), V("0.1.0")) == V("0.1.1")
    assert next_version(R("minor"), [], Line(()), V("0.1.0")) == V("0.2.0")
    assert next_version(R("major"), [], Line(()), V("0.1.0")) == V("1.0.0")


def test_naming_the_never_released_manifest_version_releases_it() -> None:
    assert next_version(R("0.1.0"), [], Line(()), V("0.1.0")) == V("0.1.0")
    assert next_version(R("1.0.0"), [V("0.9.0")], Line(()), V("1.0.0")) == V("1.0.0")


@pytest.mark.parametrize("requested", ["0.0.0", "0.0.9", "0.1.0-rc.1"])
def test_a_version_below_the_manifest_version_is_refused(requested: str) -> None:
    with pytest.raises(ReleaseError, match=r"below 0\.1\.0, the version the manifest"):
        next_version(R(requested), [], Line(()), V("0.1.0"))


def test_a_bump_starts_from_the_higher_of_manifest_and_last_release() -> None:
    # The steady state: both say 2.0.0.
    assert next_version(R("minor"), RELEASED, Line(()), V("2.0.0")) == V("2.1.0")
    # A hand-raised, never released manifest version is the base.
    assert next_version(R("minor"), RELEASED, Line(()), V("2.4.0")) == V("2.5.0")
    # A release newer than the manifest (another branch, the registry) is the base.
    assert next_version(R("minor"), RELEASED, Line((1,)), V("1.0.0")) == V("1.2.0")


def test_a_manifest_version_outside_the_branch_line_is_ignored() -> None:
    assert next_version(R("patch"), RELEASED, Line((1, 1)), V("2.0.0")) == V("1.1.1")
    assert next_version(R("1.1.1"), RELEASED, Line((1, 1)), V("2.0.0")) == V("1.1.1")


def test_the_highest_release_still_bounds_a_lower_manifest_version() -> None:
    with pytest.raises(ReleaseError, match=r"not greater than the last release 2\.0\.0"):
        next_version(R("1.5.0"), RELEASED, Line(()), V("1.0.0"))


def test_a_request_is_a_bump_or_a_strictly_parsed_version() -> None:
    assert [R(text) for text in ("patch", "minor", "major")] == list(Bump)
    assert R("1.1.0-rc.1") == V("1.1.0-rc.1")
    with pytest.raises(ReleaseError, match=r"Reading version 'Patch' failed because it is not"):
        R("Patch")
