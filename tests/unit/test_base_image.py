"""The offline base image: plan, apt sources, idempotence, rootfs finishing, executor.

`data/base-image-index.json` is `docker buildx imagetools inspect --raw` of the real
`127.0.0.1:5000/agent-runner-base/python:3.13-trixie` as `base-image` pushed it.
(Over 400 lines: one executor's every branch, each a short scripted case.)
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from build_tools.config import ToolConfig
from build_tools.errors import BuildError, ConfigError, DockerDaemonError, RegistryError
from build_tools.image.base_image import (
    IMAGE_CHANGES,
    RECIPE_ANNOTATION,
    execute,
    missing_platforms,
    plan_base_image,
    platforms_in_index,
    recipe_id,
    run_base_image,
    split_tag,
)
from build_tools.image.debian_rootfs import debian_mirror, finish_rootfs
from build_tools.options import BaseImageArguments
from build_tools.process import CommandResult
from tests.unit.fakes import FakeHost

DATA = Path(__file__).parent / "data"
TAG = "127.0.0.1:5000/agent-runner-base/python:3.13-trixie"
BASE = "python:3.13-slim"
MIRROR = "http://archive.example/debian"
BOTH = ("linux/amd64", "linux/arm64")


def _index() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "base-image-index.json").read_text())
    return loaded


def _apt_dir(tmp_path: Path) -> Path:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list.d" / "debian.sources").write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )
    return apt


def _config(
    tmp_path: Path, *, offline: bool = True, platforms: tuple[str, ...] = BOTH
) -> ToolConfig:
    return ToolConfig(project_root=tmp_path, offline=offline, base_image=BASE, platforms=platforms)


def _args(*, force: bool = False, dry_run: bool = False) -> BaseImageArguments:
    return BaseImageArguments(force=force, dry_run=dry_run)


def _run(host: FakeHost, tmp_path: Path, config: ToolConfig, args: BaseImageArguments) -> str:
    out = io.StringIO()
    assert run_base_image(args, config, host, apt_dir=_apt_dir(tmp_path), out=out) == 0
    return out.getvalue()


def _called(host: FakeHost, name: str) -> list[Any]:
    return [argument for call, argument in host.calls if call == name]


# -- plan ---------------------------------------------------------------------------------


def test_plan_has_one_native_extract_step_per_platform(tmp_path: Path) -> None:
    plan = plan_base_image(TAG, BOTH, MIRROR, tmp_path)

    assert [step.platform for step in plan.steps] == list(BOTH)
    assert [step.ref for step in plan.steps] == [f"{TAG}-amd64", f"{TAG}-arm64"]
    arm = plan.steps[1].mmdebstrap_argv
    assert arm[:3] == ("mmdebstrap", "--variant=extract", "--arch=arm64")
    assert "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr" in arm
    assert arm[-3:] == ("trixie", str(tmp_path / "mmdebstrap-arm64.tar"), MIRROR)
    included = next(a for a in arm if a.startswith("--include=")).split("=", 1)[1].split(",")
    assert {"python3.13-minimal", "libpython3.13-stdlib", "ca-certificates", "dash"} <= set(
        included
    )
    assert plan.steps[1].rootfs_tar == tmp_path / "rootfs-arm64.tar"


def test_plan_follows_the_configured_platforms(tmp_path: Path) -> None:
    plan = plan_base_image(TAG, ("linux/arm64",), MIRROR, tmp_path)

    assert [step.ref for step in plan.steps] == [f"{TAG}-arm64"]
    assert plan.describe().endswith(f"imagetools create -t {TAG} {TAG}-arm64")


@pytest.mark.parametrize("ref", [f"{TAG}@sha256:{'a' * 64}", "127.0.0.1:5000/base", "base"])
def test_tag_without_tag_or_with_digest_is_refused(ref: str) -> None:
    with pytest.raises(ConfigError, match="offline-base-image"):
        split_tag(ref)


# -- the Debian archive from apt sources ---------------------------------------------------------


def test_mirror_from_deb822_sources_ignores_security_and_disabled_entries(tmp_path: Path) -> None:
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "debian.sources").write_text(
        "Types: deb\n"
        "# a comment between fields\n"
        "URIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://off.example/debian\n"
        "Suites: bookworm\n"
        "Enabled: no\n"
        "\n"
        "Types: deb deb-src\n"
        "URIs: http://mirror.example/debian/\n"
        "Suites:\n bookworm\n bookworm-updates\n"
        "Components: main\n"
    )
    (parts / "other.sources.disabled").write_text(
        "Types: deb\nURIs: http://disabled.example/debian\nSuites: trixie\n"
    )

    assert debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_mirror_from_one_line_format_with_options(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg]"
        " http://one.example/debian bookworm main\n"
    )

    assert debian_mirror(tmp_path) == "http://one.example/debian"


def test_mirror_prefers_a_trixie_entry(tmp_path: Path) -> None:
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (tmp_path / "sources.list").write_text("deb http://bookworm.example/debian bookworm main\n")
    (parts / "trixie.list").write_text("deb http://trixie.example/debian trixie main\n")

    assert debian_mirror(tmp_path) == "http://trixie.example/debian"


def test_no_debian_entry_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb https://vendor.example/apt stable main\n")

    with pytest.raises(ConfigError, match=r"no apt source lists suite trixie or bookworm"):
        debian_mirror(tmp_path)


# -- the index in the registry -------------------------------------------------------------


def test_platforms_of_the_real_index() -> None:
    assert platforms_in_index(_index()) == BOTH
    assert missing_platforms(_index(), BOTH) == ()


def test_attestations_do_not_count_and_absent_tags_miss_everything() -> None:
    index = _index()
    index["manifests"] = [
        index["manifests"][0],
        {"platform": {"os": "unknown", "architecture": "unknown"}},
    ]

    assert missing_platforms(index, BOTH) == ("linux/arm64",)
    assert missing_platforms(None, BOTH) == BOTH
    # A single-platform manifest (no index) cannot prove any platform.
    assert missing_platforms({"schemaVersion": 2, "layers": []}, ("linux/amd64",)) == (
        "linux/amd64",
    )


# -- decisions ------------------------------------------------------------------------------


def test_complete_tag_is_left_alone(tmp_path: Path) -> None:
    host = FakeHost(raw_manifests={TAG: _index()})

    output = _run(host, tmp_path, _config(tmp_path), _args())

    assert "already serves linux/amd64, linux/arm64; nothing to do" in output
    assert _called(host, "imagetools_inspect_raw") == [TAG]
    assert not _called(host, "run")
    assert not _called(host, "import_rootfs")


def test_saved_index_carries_the_current_recipe() -> None:
    # If this fails, PACKAGES or the rootfs recipe changed: re-seed the base and save its
    # `imagetools inspect --raw` again as data/base-image-index.json.
    assert _index()["annotations"][RECIPE_ANNOTATION] == recipe_id()


def test_tag_from_another_recipe_is_rebuilt(tmp_path: Path) -> None:
    index = _index()
    index["annotations"][RECIPE_ANNOTATION] = "0" * 16
    host = FakeHost(raw_manifests={TAG: index})

    output = _run(host, tmp_path, _config(tmp_path), _args(dry_run=True))

    assert "made from another recipe" in output
    assert f"imagetools create -t {TAG} {TAG}-amd64 {TAG}-arm64" in output


def test_incomplete_tag_is_rebuilt_and_dry_run_only_prints(tmp_path: Path) -> None:
    index = _index()
    index["manifests"] = index["manifests"][:1]
    host = FakeHost(raw_manifests={TAG: index})

    output = _run(host, tmp_path, _config(tmp_path), _args(dry_run=True))

    assert "mmdebstrap --variant=extract --arch=arm64" in output
    assert f"imagetools create -t {TAG} {TAG}-amd64 {TAG}-arm64" in output
    assert not _called(host, "run")
    assert not _called(host, "push")


def test_force_rebuilds_a_complete_tag(tmp_path: Path) -> None:
    host = FakeHost(raw_manifests={TAG: _index()})

    output = _run(host, tmp_path, _config(tmp_path), _args(force=True, dry_run=True))

    assert "docker push" in output


def test_dry_run_needs_no_engine(tmp_path: Path) -> None:
    host = FakeHost(docker_error=DockerDaemonError("Contacting", "it is down", "Start it."))
    host.unresolvable = {TAG}

    output = _run(host, tmp_path, _config(tmp_path), _args(dry_run=True))

    assert output.startswith(f"Offline base {TAG} from Debian trixie at {MIRROR}:")
    assert not _called(host, "ensure_docker")


def test_online_base_that_resolves_needs_nothing(tmp_path: Path) -> None:
    host = FakeHost(raw_manifests={BASE: {"manifests": []}})

    output = _run(host, tmp_path, _config(tmp_path, offline=False), _args())

    assert output == f"{BASE} resolves; no offline base is needed.\n"
    assert _called(host, "imagetools_inspect_raw") == [BASE]


def test_online_base_that_does_not_resolve_seeds_and_says_how_to_use_it(tmp_path: Path) -> None:
    host = FakeHost(raw_manifests={TAG: _index()}, unresolvable={BASE})

    output = _run(host, tmp_path, _config(tmp_path, offline=False), _args())

    assert f"{BASE} does not resolve from this host." in output
    assert "nothing to do" in output
    assert output.rstrip().endswith(
        "Set AGENT_RUNNER_BUILD_OFFLINE=1 (or pass --offline) to build from it."
    )


def test_missing_mmdebstrap_fails_before_changing_anything(tmp_path: Path) -> None:
    host = FakeHost(unresolvable={TAG})

    with pytest.raises(BuildError, match="mmdebstrap is not installed"):
        run_base_image(
            _args(), _config(tmp_path), host, apt_dir=_apt_dir(tmp_path), out=io.StringIO()
        )
    assert not _called(host, "run")
    assert not _called(host, "push")


# -- rootfs finishing -----------------------------------------------------------------------

IN_RELEASE = (
    b"Origin: Debian\nSuite: stable\nVersion: 13.8\nCodename: trixie\n"
    b"Date: Sat, 21 Nov 2026 09:15:44 UTC\n"
)
CHANGELOG = gzip.compress(b"python3.13 (3.13.5-2+deb13u5) trixie; urgency=medium\n\n  * Fix.\n")
CERT_A, CERT_B = b"-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----", b"B-cert\n"


def _raw_rootfs(path: Path, *, with_release: bool = True) -> Path:
    """A miniature of what mmdebstrap --variant=extract writes."""
    files: dict[str, bytes] = {
        "usr/bin/dash": b"\x7fELF dash",
        "usr/bin/python3.13": b"\x7fELF python",
        "usr/share/doc/python3.13-minimal/changelog.Debian.gz": CHANGELOG,
        "usr/share/doc/python3.13-minimal/copyright": b"PSF",
        "usr/share/man/man1/python3.13.1.gz": b"man",
        "usr/share/ca-certificates/mozilla/B.crt": CERT_B,
        "usr/share/ca-certificates/mozilla/A.crt": CERT_A,
        "usr/share/base-passwd/passwd.master": b"root:*:0:0:root:/root:/bin/sh\n",
        "usr/share/base-passwd/group.master": b"root:*:0:\n",
        "etc/resolv.conf": b"nameserver 10.0.0.1\n",
        "var/lib/apt/lists/mirror_debian_dists_trixie_main_binary-amd64_Packages": b"Package: x\n",
    }
    if with_release:
        files["var/lib/apt/lists/mirror_debian_dists_trixie_InRelease"] = IN_RELEASE
    with tarfile.open(path, "w") as tar:
        for directory in ("tmp", "dev", "usr/share/doc", "var/lib/apt/lists"):
            info = tarfile.TarInfo(f"./{directory}/")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        device = tarfile.TarInfo("./dev/null")
        device.type, device.devmajor, device.devminor, device.mode = tarfile.CHRTYPE, 1, 3, 0o666
        tar.addfile(device)
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode, info.uid, info.gid = len(data), 0o755, 0, 42
            tar.addfile(info, io.BytesIO(data))
    return path


def _members(path: Path) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(path) as tar:
        return {
            member.name.removeprefix("./").rstrip("/"): (
                member,
                extracted.read() if (extracted := tar.extractfile(member)) else None,
            )
            for member in tar
        }


def test_finish_rootfs_does_what_the_maintainer_scripts_would(tmp_path: Path) -> None:
    finished = tmp_path / "rootfs.tar"

    facts = finish_rootfs(_raw_rootfs(tmp_path / "raw.tar"), finished)

    members = _members(finished)
    assert members["usr/bin/python3"][0].linkname == "python3.13"
    assert members["usr/bin/sh"][0].linkname == "dash"
    assert members["etc/passwd"][1] == b"root:*:0:0:root:/root:/bin/sh\n"
    assert members["etc/group"][1] == b"root:*:0:\n"
    assert members["etc/ssl/certs/ca-certificates.crt"][1] == CERT_A + b"\n" + CERT_B
    assert members["tmp"][0].mode == 0o1777
    # Ownership comes from the archive, not from whoever ran this.
    assert members["usr/bin/dash"][0].gid == 42
    assert "usr/share/doc/python3.13-minimal/copyright" in members
    for gone in ("usr/share/man/man1/python3.13.1.gz", "etc/resolv.conf", "dev/null"):
        assert gone not in members
    assert not [name for name in members if name.startswith("var/lib/apt/lists/")]
    assert not [name for name in members if name.endswith("changelog.Debian.gz")]
    assert {"dev", "usr/share/doc", "var/lib/apt/lists"} <= set(members)
    assert facts.python_version == "3.13.5-2+deb13u5"
    assert facts.labels()["org.opencontainers.image.created"] == "2026-11-21T09:15:44Z"
    assert (
        "Python 3.13.5 from Debian 13.8" in facts.labels()["org.opencontainers.image.description"]
    )


def test_finish_rootfs_without_archive_facts_leaves_nothing_behind(tmp_path: Path) -> None:
    finished = tmp_path / "rootfs.tar"

    with pytest.raises(BuildError, match="InRelease"):
        finish_rootfs(_raw_rootfs(tmp_path / "raw.tar", with_release=False), finished)
    assert not finished.exists()


# -- executor -------------------------------------------------------------------------------


def test_execute_imports_pushes_stitches_and_cleans_up(tmp_path: Path) -> None:
    plan = plan_base_image(TAG, BOTH, MIRROR, tmp_path)
    for step in plan.steps:  # what the (faked) mmdebstrap run would have written
        _raw_rootfs(step.raw_tar)
    host = FakeHost(
        commands={"mmdebstrap": CommandResult(("mmdebstrap",), 0, "", "")},
        raw_manifests={TAG: _index()},
    )

    reports = execute(plan, host, io.StringIO())

    assert [report.platform for report in reports] == list(BOTH)
    names = [name for name, _ in host.calls]
    assert names == ["run", "import_rootfs", "push"] * 2 + [
        "imagetools_create",
        "imagetools_inspect_raw",
    ]
    _tar, platform, ref, changes = _called(host, "import_rootfs")[1]
    assert (platform, ref) == ("linux/arm64", f"{TAG}-arm64")
    assert changes[: len(IMAGE_CHANGES)] == IMAGE_CHANGES
    assert 'LABEL org.opencontainers.image.version="3.13.5-2+deb13u5"' in changes
    assert _called(host, "imagetools_create") == [(TAG, (f"{TAG}-amd64", f"{TAG}-arm64"))]
    assert host.index_annotations[TAG] == {RECIPE_ANNOTATION: recipe_id()}
    assert list(tmp_path.iterdir()) == []


def test_execute_fails_when_the_tag_lacks_a_platform_afterwards(tmp_path: Path) -> None:
    plan = plan_base_image(TAG, BOTH, MIRROR, tmp_path)
    for step in plan.steps:
        _raw_rootfs(step.raw_tar)
    index = _index()
    index["manifests"] = index["manifests"][:1]
    host = FakeHost(
        commands={"mmdebstrap": CommandResult(("mmdebstrap",), 0, "", "")},
        raw_manifests={TAG: index},
    )

    with pytest.raises(RegistryError, match=r"does not serve linux/arm64"):
        execute(plan, host, io.StringIO())
