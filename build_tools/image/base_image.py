"""The offline base: a Debian 13 Python 3.13 image for amd64 and arm64, made from packages.

Where the configured base (`python:3.13-slim`) cannot be pulled, this builds an equivalent
from Debian's archive without emulation: `mmdebstrap --variant=extract` unpacks
the packages for each architecture (maintainer scripts do not run), `finish_rootfs` does
by hand what those scripts would have done, `docker import` turns each rootfs into an
image, and `imagetools create` stitches the per-architecture tags into one
multi-platform tag that `FROM` resolves for both platforms.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from build_tools.config import ToolConfig
from build_tools.errors import BuildError, BuildToolsError, ConfigError, RegistryError
from build_tools.host import Host
from build_tools.image.debian_rootfs import SUITE, RootfsFacts, debian_mirror, finish_rootfs
from build_tools.options import BaseImageArguments
from build_tools.platforms import PLATFORMS
from build_tools.registry import image_manifests

PACKAGES = (
    "base-files",
    "base-passwd",
    "libc6",
    "python3.13-minimal",
    "libpython3.13-stdlib",  # ssl, sqlite3, zlib, ctypes, lzma, bz2 come with its Depends
    "libstdc++6",  # C++ extension wheels (protobuf's upb, grpc) link against it, as on slim
    "ca-certificates",
    "tzdata",
    "netbase",
    "dash",
    "coreutils",
)
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
# Bump when finish_rootfs changes what it produces; the package list is hashed on its own.
_FINISH_ROOTFS_REVISION = "1"
RECIPE_ANNOTATION = "org.stigmer.agent-runner.base-recipe"


def recipe_id() -> str:
    """What the base is made of; a registry tag carrying another id is stale and rebuilt."""
    recipe = "\n".join((SUITE, *PACKAGES, *IMAGE_CHANGES, _FINISH_ROOTFS_REVISION))
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


# -- plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformStep:
    platform: str
    ref: str  # the per-architecture tag pushed before the multi-platform one
    raw_tar: Path  # mmdebstrap's output
    rootfs_tar: Path  # after finish_rootfs
    mmdebstrap_argv: tuple[str, ...]


@dataclass(frozen=True)
class BaseImagePlan:
    tag: str
    mirror: str
    steps: tuple[PlatformStep, ...]

    def describe(self) -> str:
        lines = [f"Offline base {self.tag} from Debian {SUITE} at {self.mirror}:"]
        for step in self.steps:
            lines += [
                f"  {step.platform}:",
                f"    {' '.join(step.mmdebstrap_argv)}",
                f"    finish rootfs -> {step.rootfs_tar}",
                f"    docker import --platform {step.platform} {step.rootfs_tar} {step.ref}",
                f"    docker push {step.ref}",
            ]
        refs = " ".join(step.ref for step in self.steps)
        lines.append(f"  docker buildx imagetools create -t {self.tag} {refs}")
        return "\n".join(lines)


def split_tag(ref: str) -> tuple[str, str]:
    """`name:tag` -> (name, tag); the offline base needs a tag to derive per-arch tags from."""
    name, _, tag = ref.rpartition(":")
    if "@" in ref or not name or "/" in tag:
        raise ConfigError(
            f"Using {ref!r} as the offline base tag",
            "it has no tag or carries a digest",
            "Set offline-base-image to REGISTRY/NAME:TAG (no @sha256).",
        )
    return name, tag


def plan_base_image(
    tag: str, platforms: Sequence[str], mirror: str, work_dir: Path
) -> BaseImagePlan:
    split_tag(tag)
    steps = []
    for platform in platforms:
        arch = PLATFORMS[platform].docker_arch  # names the files and the per-arch tag
        raw_tar = work_dir / f"mmdebstrap-{arch}.tar"
        argv = (
            "mmdebstrap",
            "--variant=extract",
            f"--arch={PLATFORMS[platform].debian_arch}",
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            # The lists tell which archive state the image holds; finish_rootfs drops them.
            "--skip=cleanup/apt/lists",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(raw_tar),
            mirror,
        )
        rootfs_tar = work_dir / f"rootfs-{arch}.tar"
        steps.append(PlatformStep(platform, f"{tag}-{arch}", raw_tar, rootfs_tar, argv))
    return BaseImagePlan(tag, mirror, tuple(steps))


# -- the index in the registry ------------------------------------------------------------


def platforms_in_index(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Platforms of an image index (`imagetools inspect --raw`); attestations are skipped."""
    return tuple(platform for platform, _digest in image_manifests(raw))


def missing_platforms(raw: Mapping[str, Any] | None, wanted: Sequence[str]) -> tuple[str, ...]:
    """Wanted platforms the tag does not serve; all of them when the tag is absent."""
    present = platforms_in_index(raw) if raw is not None else ()
    return tuple(platform for platform in wanted if platform not in present)


def _inspect_or_none(host: Host, ref: str, *, dry_run: bool) -> dict[str, Any] | None:
    """The raw index or manifest of `ref`, None when the registry does not serve it.

    A dry run works without an engine: whatever cannot be inspected counts as absent.
    """
    try:
        return host.docker.imagetools_inspect_raw(ref)
    except RegistryError:
        return None  # unreachable counts as absent: offline hosts cannot reach Docker Hub
    except BuildToolsError:
        if dry_run:
            return None
        raise


# -- executor ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepReport:
    platform: str
    ref: str
    seconds: float
    facts: RootfsFacts


def execute(plan: BaseImagePlan, host: Host, out: IO[str]) -> list[StepReport]:
    """Carry out `plan`; afterwards the tag serves every platform of the plan."""
    reports = []
    plan.steps[0].raw_tar.parent.mkdir(parents=True, exist_ok=True)
    for step in plan.steps:
        started = time.monotonic()
        print(f"[base-image] {step.platform}: mmdebstrap ({SUITE})", file=out, flush=True)
        try:
            host.process.run(step.mmdebstrap_argv)
            facts = finish_rootfs(step.raw_tar, step.rootfs_tar)
            step.raw_tar.unlink()
            labels = [f'LABEL {key}="{value}"' for key, value in facts.labels().items()]
            host.docker.import_rootfs(
                step.rootfs_tar,
                platform=step.platform,
                ref=step.ref,
                changes=(*IMAGE_CHANGES, *labels),
            )
        finally:
            step.raw_tar.unlink(missing_ok=True)
            step.rootfs_tar.unlink(missing_ok=True)
        host.docker.push(step.ref)
        seconds = time.monotonic() - started
        reports.append(StepReport(step.platform, step.ref, seconds, facts))
        print(f"[base-image] {step.platform}: pushed {step.ref} in {seconds:.1f} s", file=out)
    host.docker.imagetools_create(
        plan.tag, [step.ref for step in plan.steps], annotations={RECIPE_ANNOTATION: recipe_id()}
    )
    wanted = [step.platform for step in plan.steps]
    missing = missing_platforms(host.docker.imagetools_inspect_raw(plan.tag), wanted)
    if missing:
        raise RegistryError(
            f"Checking {plan.tag} after imagetools create",
            f"it does not serve {', '.join(missing)}",
            "Inspect it with `docker buildx imagetools inspect` and rerun with --force.",
        )
    return reports


def run_base_image(
    args: BaseImageArguments,
    config: ToolConfig,
    host: Host,
    *,
    apt_dir: Path = Path("/etc/apt"),
    out: IO[str] | None = None,
) -> int:
    """`base-image`: make sure the offline base exists with every configured platform."""
    out = out or sys.stdout
    force, dry_run = args.force, args.dry_run
    split_tag(config.offline_base_image)
    if not dry_run:
        host.docker.ensure()
    if not config.offline and not force:
        if _inspect_or_none(host, config.base_image, dry_run=dry_run) is not None:
            print(f"{config.base_image} resolves; no offline base is needed.", file=out)
            return 0
        print(f"{config.base_image} does not resolve from this host.", file=out)
    _seed(config, host, force=force, dry_run=dry_run, apt_dir=apt_dir, out=out)
    if not config.offline:
        print("Set AGENT_RUNNER_BUILD_OFFLINE=1 (or pass --offline) to build from it.", file=out)
    return 0


def _seed(
    config: ToolConfig, host: Host, *, force: bool, dry_run: bool, apt_dir: Path, out: IO[str]
) -> None:
    """Build and push the offline base unless the registry already serves all platforms."""
    tag = config.offline_base_image
    raw = _inspect_or_none(host, tag, dry_run=dry_run)
    missing = missing_platforms(raw, config.platforms)
    stale = raw is not None and raw.get("annotations", {}).get(RECIPE_ANNOTATION) != recipe_id()
    if not missing and not stale and not force:
        print(f"{tag} already serves {', '.join(config.platforms)}; nothing to do.", file=out)
        return
    if stale and not missing:
        print(f"{tag} was made from another recipe than {recipe_id()}; rebuilding.", file=out)
    plan = plan_base_image(
        tag, config.platforms, debian_mirror(apt_dir), config.work_dir / "base-image"
    )
    if dry_run:
        print(plan.describe(), file=out)
        return
    if host.process.which("mmdebstrap") is None:
        raise BuildError(
            "Building the offline base",
            "mmdebstrap is not installed",
            "Run bash .ci/provision-docker-host (or apt-get install mmdebstrap) and retry.",
        )
    reason = ", ".join(missing) or ("recipe changed" if stale else "forced")
    print(f"Seeding {tag} ({reason}).", file=out, flush=True)
    for report in execute(plan, host, out):
        print(
            f"{report.platform}: {report.seconds:.1f} s, Python {report.facts.python_version},"
            f" Debian {report.facts.debian_version} archive of {report.facts.archive_date}",
            file=out,
        )
    print(f"{tag} now serves {', '.join(config.platforms)}.", file=out)
