"""Publish: the pure re-run decision, and checks the loopback registry cannot easily
produce (attestations, bad labels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import semver

from build_tools.docker import BuildxRequest
from build_tools.errors import RegistryError, ReleaseError
from build_tools.release.publish import (
    REVISION_LABEL,
    VERSION_LABEL,
    PublishedImage,
    RegistryState,
    StartCheck,
    decide_publish,
    decide_tags,
    plan_publish,
    platform_manifests,
    publish,
    resolve,
    staging_request,
    verify_platforms,
    write_tags,
)
from build_tools.release.tags import TagAction
from build_tools.release.versioning import parse_cli_version
from tests.unit.fakes import FakeHost

REPO = "registry.test/stigmer/agent-runner"
REVISION = "c" * 40
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
AMD = "sha256:" + "a" * 64
ARM = "sha256:" + "b" * 64
PLATFORMS = ("linux/amd64", "linux/arm64")
PLAN = plan_publish(REPO, semver.Version.parse("1.2.0"), REVISION, PLATFORMS, [])
SHA = f"sha-{REVISION[:12]}"


def manifest(digest: str, arch: str, **annotations: str) -> dict[str, object]:
    return {
        "digest": digest,
        "platform": {"os": "linux", "architecture": arch},
        "annotations": annotations,
    }


def test_the_index_must_hold_exactly_the_planned_platforms() -> None:
    host = FakeHost(raw_manifests={f"{REPO}@{D1}": {"manifests": [manifest(AMD, "amd64")]}})
    with pytest.raises(RegistryError, match="Nothing was tagged"):
        platform_manifests(host, PLAN, D1)
    host.raw_manifests[f"{REPO}@{D1}"]["manifests"].append(manifest(ARM, "arm64"))
    assert platform_manifests(host, PLAN, D1) == {"linux/amd64": AMD, "linux/arm64": ARM}


def test_attestation_entries_are_refused() -> None:
    attestation = manifest(D2, "unknown", **{"vnd.docker.reference.type": "attestation-manifest"})
    index = {"manifests": [manifest(AMD, "amd64"), manifest(ARM, "arm64"), attestation]}
    with pytest.raises(ReleaseError, match="unknown/unknown"):
        platform_manifests(FakeHost(raw_manifests={f"{REPO}@{D1}": index}), PLAN, D1)


def _image(arch: str, version: str) -> dict[str, object]:
    labels = {VERSION_LABEL: version, REVISION_LABEL: REVISION}
    return {"Os": "linux", "Architecture": arch, "Config": {"Labels": labels}}


def test_verification_pulls_checks_labels_and_starts_each_platform() -> None:

    host = FakeHost(
        local_images={
            f"{REPO}@{AMD}": _image("amd64", "1.2.0"),
            f"{REPO}@{ARM}": _image("arm64", "1.2.0"),
        },
        pullable={f"{REPO}@{AMD}", f"{REPO}@{ARM}"},
    )
    manifests = {"linux/amd64": AMD, "linux/arm64": ARM}
    verify_platforms(host, PLAN, manifests, StartCheck(("--entrypoint", "true"), ("x",)))
    steps = [call for call in host.calls if call[0] in {"image_pull", "container_run"}]
    assert steps[1] == (
        "container_run",
        (("--rm", "--platform", "linux/amd64", "--entrypoint", "true", f"{REPO}@{AMD}", "x"), {}),
    )
    assert [name for name, _ in steps] == ["image_pull", "container_run"] * 2  # per platform
    host.local_images[f"{REPO}@{ARM}"] = _image("arm64", "1.1.0")
    with pytest.raises(ReleaseError, match="Nothing was tagged"):
        verify_platforms(host, PLAN, manifests, None)


def test_verification_leaves_no_copy_the_engine_did_not_hold() -> None:
    held = f"{REPO}@{AMD}"
    host = FakeHost(local_images={held: _image("amd64", "1.2.0")}, pullable={held, f"{REPO}@{ARM}"})
    manifests = {"linux/amd64": AMD, "linux/arm64": ARM}
    # The arm64 copy the fake pulls has no labels: the check fails, and it is removed anyway.
    with pytest.raises(ReleaseError, match="Nothing was tagged"):
        verify_platforms(host, PLAN, manifests, None)
    assert [ref for kind, ref in host.calls if kind == "image_remove"] == [f"{REPO}@{ARM}"]
    assert set(host.local_images) == {held}


def test_the_plan_writes_both_version_spellings_first() -> None:
    assert PLAN.tags == ("1.2.0", "v1.2.0", f"sha-{REVISION[:12]}", "1.2", "1", "latest")


def test_decide_tags_skips_what_is_already_right_and_refuses_a_changed_version() -> None:
    current: dict[str, str | None] = {"1.2.0": D1, f"sha-{REVISION[:12]}": D1, "1.2": D2}
    # A release published before the v-tags existed gets its v-tag on a same-digest re-run.
    assert decide_tags(PLAN, current, D1) == ["v1.2.0", "1.2", "1", "latest"]
    with pytest.raises(ReleaseError, match="immutable"):
        decide_tags(PLAN, current, D2)


def test_a_v_tag_on_another_digest_is_refused_and_nothing_is_written() -> None:
    host = FakeHost(digests={f"{REPO}:1.2.0": D1, f"{REPO}:v1.2.0": D2})
    with pytest.raises(ReleaseError, match=r"tag v1\.2\.0 failed because it already points"):
        write_tags(host, PLAN, D1)
    assert [call for call in host.calls if call[0] == "imagetools_create"] == []
    host.digests[f"{REPO}:v1.2.0"] = D1
    assert write_tags(host, PLAN, D1) == [f"sha-{REVISION[:12]}", "1.2", "1", "latest"]


def test_resolve_names_a_version_that_was_never_published() -> None:
    host = FakeHost(digests={f"{REPO}:1.2.0": D1, f"{REPO}:v1.2.0": D1})
    # Either spelling (the Stigmer CLI's own version carries the v): the same pinned ref.
    one, other = parse_cli_version("v1.2.0"), parse_cli_version("1.2.0")
    assert resolve(host, REPO, one) == resolve(host, REPO, other) == f"{REPO}:1.2.0@{D1}"
    with pytest.raises(
        ReleaseError, match=r"registry\.test/stigmer/agent-runner:1\.3\.0 was never"
    ):
        resolve(host, REPO, semver.Version.parse("1.3.0"))


# -- the re-run decision: pure, from what the registry holds ----------------------------------

RELEASE_LABELS = {VERSION_LABEL: "1.2.0", REVISION_LABEL: REVISION}


def released(digest: str = D1, **overrides: Any) -> PublishedImage:
    fields: dict[str, Any] = {
        "digest": digest,
        "platforms": PLATFORMS,
        "labels": {platform: dict(RELEASE_LABELS) for platform in PLATFORMS},
    }
    return PublishedImage(**(fields | overrides))


def state(image: PublishedImage | None = None, /, **tags: str) -> RegistryState:
    # keyword names stand for tags: v1_2_0 -> v1.2.0, sha -> sha-<short>
    names = {"sha": SHA, "latest": "latest"}
    current = dict.fromkeys(PLAN.tags)
    current |= {names.get(k, k.replace("_", ".")): v for k, v in tags.items()}
    return RegistryState(current, image)


def test_nothing_published_means_build() -> None:
    decision = decide_publish(PLAN, state())
    assert decision.adopt is None
    assert decision.actions == ()
    # A staging tag left by a run that stopped before tagging is no release: rebuild.
    assert decide_publish(PLAN, state(sha=D2)).adopt is None


def test_a_partly_published_release_is_adopted_and_only_the_rest_is_written() -> None:
    decision = decide_publish(PLAN, state(released(), **{"1_2_0": D1, "v1_2_0": D1}))
    assert decision.adopt == D1
    assert decision.actions == (
        ("1.2.0", TagAction.UNCHANGED),
        ("v1.2.0", TagAction.UNCHANGED),
        (SHA, TagAction.CREATE),
        ("1.2", TagAction.CREATE),
        ("1", TagAction.CREATE),
        ("latest", TagAction.CREATE),
    )
    # Interrupted after its first write: only `X.Y.Z` is out.
    first_only = decide_publish(PLAN, state(released(), **{"1_2_0": D1}))
    assert next(tag for tag, a in first_only.actions if a is TagAction.CREATE) == "v1.2.0"


def test_a_complete_release_is_a_no_op() -> None:
    everything = {tag.replace(".", "_"): D1 for tag in ("1.2.0", "v1.2.0", "1.2", "1", "latest")}
    decision = decide_publish(PLAN, state(released(), sha=D1, **everything))
    assert {action for _, action in decision.actions} == {TagAction.UNCHANGED}


def test_a_moved_staging_tag_is_pointed_back_at_the_release() -> None:
    # What the old publish did: a refused re-run pushed another build under sha-<short>.
    decision = decide_publish(PLAN, state(released(), sha=D2, **{"1_2_0": D1, "v1_2_0": D1}))
    assert (SHA, TagAction.MOVE) in decision.actions
    assert decision.adopt == D1


@pytest.mark.parametrize(
    ("image", "because"),
    [
        (
            released(labels={p: {**RELEASE_LABELS, REVISION_LABEL: "d" * 40} for p in PLATFORMS}),
            "from commit dddd",
        ),
        (
            released(labels={p: {**RELEASE_LABELS, VERSION_LABEL: "1.1.0"} for p in PLATFORMS}),
            "labelled version 1.1.0",
        ),
        (released(platforms=("linux/amd64",)), r"holds \['linux/amd64'\], not"),
        (released(attestations=True), "attestation manifests"),
    ],
)
def test_a_published_build_that_is_not_this_one_is_refused(
    image: PublishedImage, because: str
) -> None:
    with pytest.raises(ReleaseError, match=f"already published as {D1}, which .*{because}"):
        decide_publish(PLAN, state(image, **{"1_2_0": D1}))


def test_version_tags_on_two_builds_are_refused() -> None:
    with pytest.raises(ReleaseError, match="point at different builds"):
        decide_publish(PLAN, state(released(), **{"1_2_0": D1, "v1_2_0": D2}))


def test_a_staging_tag_that_a_release_points_at_is_never_pushed_over() -> None:
    with pytest.raises(ReleaseError, match=r"sha-c+ is sha256:2+, which 1\.2 point at"):
        decide_publish(PLAN, state(sha=D2, **{"1_2": D2}))


def _published_host(**tags: str) -> FakeHost:
    """A registry holding release 1.2.0 at D1 (both platforms, labelled) under `tags`."""
    config = {"config": {"Labels": RELEASE_LABELS}}
    return FakeHost(
        digests={f"{REPO}:{tag}": digest for tag, digest in tags.items()},
        raw_manifests={
            f"{REPO}@{D1}": {"manifests": [manifest(AMD, "amd64"), manifest(ARM, "arm64")]}
        },
        image_config_answers={f"{REPO}@{D1}": dict.fromkeys(PLATFORMS, config)},
    )


def _no_build() -> BuildxRequest:
    raise AssertionError("an adopted release must not be rebuilt")


def test_a_rerun_of_a_partly_published_release_writes_only_the_missing_tags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = _published_host(**{"1.2.0": D1, "v1.2.0": D1})
    assert publish(host, PLAN, _no_build, start=None) == D1
    written = [call[1] for call in host.calls if call[0] == "imagetools_create"]
    assert written == [(f"{REPO}:{tag}", (f"{REPO}@{D1}",)) for tag in (SHA, "1.2", "1", "latest")]
    assert host.builds == []
    out = capsys.readouterr().out
    assert f"adopt {REPO}@{D1}" in out
    assert f"keep {REPO}:1.2.0 (now {D1})" in out
    assert f"write {REPO}:latest (new)" in out


def test_a_dry_run_prints_the_decision_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = _published_host(**{"1.2.0": D1})
    assert publish(host, PLAN, _no_build, start=None, dry_run=True) is None
    assert [call for call in host.calls if call[0] == "imagetools_create"] == []
    assert f"write {REPO}:v1.2.0 (new)" in capsys.readouterr().out


def test_a_refused_rerun_pushes_nothing() -> None:
    host = _published_host(**{"1.2.0": D1})
    host.image_config_answers[f"{REPO}@{D1}"]["linux/arm64"] = {"config": {"Labels": {}}}
    with pytest.raises(ReleaseError, match="nothing was pushed"):
        publish(host, PLAN, _no_build, start=None)
    assert host.builds == []
    assert [call for call in host.calls if call[0] == "imagetools_create"] == []


def test_the_staging_push_is_planned_from_the_build_and_the_publish_plan(tmp_path: Path) -> None:
    build = BuildxRequest(
        tmp_path,
        tmp_path / "Dockerfile",
        ("linux/amd64",),
        ("ghcr.io/stigmer/agent-runner:1.2.0",),
        labels={"org.example": "kept"},
        build_args={"VERSION": "1.2.0"},
        load=True,
        builder="remote",
        provenance=True,
    )
    metadata = tmp_path / "metadata.json"
    request = staging_request(PLAN, build, metadata)
    assert (request.platforms, request.tags) == (PLATFORMS, (f"{REPO}:{SHA}",))
    assert request.labels == {
        "org.example": "kept",
        VERSION_LABEL: "1.2.0",
        REVISION_LABEL: REVISION,
    }
    assert (request.push, request.load, request.provenance, request.sbom) == (
        True,
        False,
        False,
        False,
    )
    assert request.metadata_file == metadata
    # What to build comes from the build request unchanged.
    assert (request.context, request.dockerfile, request.builder) == (
        tmp_path,
        build.dockerfile,
        "remote",
    )
    assert request.build_args == {"VERSION": "1.2.0"}
