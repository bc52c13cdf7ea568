"""Publish checks that the loopback registry cannot easily produce: attestations, bad labels."""

from __future__ import annotations

import pytest
import semver

from build_tools.errors import RegistryError, ReleaseError
from build_tools.publish import (
    REVISION_LABEL,
    VERSION_LABEL,
    StartCheck,
    decide_tags,
    plan_publish,
    platform_manifests,
    resolve,
    verify_platforms,
    write_tags,
)
from tests.unit.fakes import FakeHost

REPO = "registry.test/stigmer/agent-runner"
REVISION = "c" * 40
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
AMD = "sha256:" + "a" * 64
ARM = "sha256:" + "b" * 64
PLAN = plan_publish(
    REPO, semver.Version.parse("1.2.0"), REVISION, ("linux/amd64", "linux/arm64"), []
)


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
    from build_tools.host import CommandResult

    host = FakeHost(
        commands={"docker": CommandResult((), 0, "", "")},
        local_images={
            f"{REPO}@{AMD}": _image("amd64", "1.2.0"),
            f"{REPO}@{ARM}": _image("arm64", "1.2.0"),
        },
    )
    manifests = {"linux/amd64": AMD, "linux/arm64": ARM}
    verify_platforms(host, PLAN, manifests, StartCheck(("--entrypoint", "true"), ("x",)))
    runs = [call[1] for call in host.calls if call[0] == "run"]
    assert runs[1] == (
        "docker",
        "run",
        "--rm",
        "--platform",
        "linux/amd64",
        "--entrypoint",
        "true",
        f"{REPO}@{AMD}",
        "x",
    )
    assert len(runs) == 4  # a pull and a start per platform
    host.local_images[f"{REPO}@{ARM}"] = _image("arm64", "1.1.0")
    with pytest.raises(ReleaseError, match="Nothing was tagged"):
        verify_platforms(host, PLAN, manifests, None)


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
    assert resolve(host, REPO, "v1.2.0") == resolve(host, REPO, "1.2.0") == f"{REPO}:1.2.0@{D1}"
    with pytest.raises(
        ReleaseError, match=r"registry\.test/stigmer/agent-runner:1\.3\.0 was never"
    ):
        resolve(host, REPO, "1.3.0")
