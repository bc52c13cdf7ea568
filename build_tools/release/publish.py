"""`nox -s publish`: push a tagged release's image and write its tags; re-runnable.

First the registry is read (through the Host) and `decide_publish`, a pure function, decides:
- the release's version tags (`X.Y.Z`, `vX.Y.Z`) already exist: it is (partly) out. Its
  image is adopted, with no build and no push, when every platform's revision label is this
  commit, its version label this version and its platforms the planned ones; otherwise the
  run is refused before anything is written. Only the missing or stale tags are written.
- they do not: build, push under the commit's `sha-<short>` tag only (buildx's docker driver
  can neither push untagged nor by digest: "push-by-digest is currently not implemented for
  docker driver"), check the index (exactly the planned platforms, no attestations), verify
  each platform (pull it back by digest, check OS/architecture and labels, start it), and
  only then write the tags. The staging push never overwrites a tag a release points at:
  no version tag exists, and a `sha-<short>` that an alias names is refused. Builds are
  reproducible, so a re-run after a failed check pushes the same digest again.
Tags are written in `plan_tags` order (version tags first, then `sha-<short>`, `X.Y`, `X`,
`latest`), so an interrupted run leaves a prefix, and a re-run writes the rest. Version tags
are only ever written after verification, which is why adopting one needs no re-check.
`--dry-run` prints the decision and every tag's action. (Over the ~400-line guideline: the
pure decision and the steps it orders are one story, read together.)

The release workflow runs the sequence in two halves around its scan and signature:
`--stage-only` does everything up to (not including) the tags and prints the index digest
(the checked `sha-<short>` push, or the adopted release); `--from-digest DIGEST` writes the
tags onto exactly that digest, after checking it is this commit's build, with no rebuild.

Attestations: the index carries none (they would show as unknown/unknown platforms to
`docker pull` and `imagetools inspect` users). Provenance and SBOM are attested by the
release workflow in GitHub's attestation store against the index digest; see release.yml.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import semver

from build_tools.config import ToolConfig
from build_tools.docker import BuildxRequest, stderr_log
from build_tools.errors import RegistryError, ReleaseError
from build_tools.host import Host
from build_tools.options import PublishArguments
from build_tools.project import RUNNER_PYPROJECT, read_project_version
from build_tools.registry import index_entries
from build_tools.release.tags import (
    LATEST,
    TagAction,
    decide_alias_tag,
    decide_version_tag,
    is_version_tag,
    plan_tags,
    published_versions,
    sha_tag,
)
from build_tools.release.versioning import version_from_tag

VERSION_LABEL = "org.opencontainers.image.version"
REVISION_LABEL = "org.opencontainers.image.revision"
_VERBS = {TagAction.CREATE: "write", TagAction.MOVE: "move", TagAction.UNCHANGED: "keep"}


def registry_versions(host: Host, repository: str) -> tuple[semver.Version, ...]:
    return published_versions(host.registry.tags(repository))


@dataclass(frozen=True)
class PublishPlan:
    repository: str  # registry/name
    version: semver.Version
    revision: str  # full commit id
    platforms: tuple[str, ...]
    tags: tuple[str, ...]  # write order; first the immutable `X.Y.Z` and `vX.Y.Z`

    @property
    def staging_tag(self) -> str:
        return sha_tag(self.revision[:12])

    @property
    def staging_ref(self) -> str:
        """Where the build is pushed before any check: the commit's `sha-<short>` tag."""
        return self.ref(self.staging_tag)

    @property
    def version_tags(self) -> tuple[str, ...]:
        return tuple(tag for tag in self.tags if is_version_tag(tag))

    def ref(self, tag: str) -> str:
        return f"{self.repository}:{tag}"


def plan_publish(
    repository: str,
    version: semver.Version,
    revision: str,
    platforms: Sequence[str],
    published: Sequence[semver.Version],
) -> PublishPlan:
    tags = plan_tags(version, published, revision[:12])
    return PublishPlan(repository, version, revision, tuple(platforms), tags)


def staging_request(plan: PublishPlan, build: BuildxRequest, metadata_file: Path) -> BuildxRequest:
    """The staging push of `build` (what to build: context, Dockerfile, build args): every
    planned platform, only the staging tag, the version and revision labels, pushed without
    attestations; buildx writes the index digest to `metadata_file`."""
    labels = {**build.labels, VERSION_LABEL: str(plan.version), REVISION_LABEL: plan.revision}
    return replace(
        build,
        platforms=plan.platforms,
        tags=(plan.staging_ref,),
        labels=labels,
        push=True,
        load=False,
        provenance=False,
        sbom=False,
        metadata_file=metadata_file,
    )


# -- deciding, from what the registry holds -------------------------------------------------


@dataclass(frozen=True)
class PublishedImage:
    """The image a release's version tags point at, as the registry describes it."""

    digest: str
    platforms: tuple[str, ...]  # os/arch of each platform manifest in its index
    labels: Mapping[str, Mapping[str, str]]  # platform -> its config's labels
    attestations: bool = False  # the index holds attestation manifests


@dataclass(frozen=True)
class RegistryState:
    tags: Mapping[str, str | None]  # every planned tag -> its digest (None: absent)
    released: PublishedImage | None  # read when the version tags point at one digest


@dataclass(frozen=True)
class PublishDecision:
    adopt: str | None  # the published digest to finish; None: build and push a new one
    # Each tag's action for the adopted digest; for a build they follow its digest.
    actions: tuple[tuple[str, TagAction], ...] = ()


def tag_actions(
    plan: PublishPlan, current: Mapping[str, str | None], digest: str
) -> tuple[tuple[str, TagAction], ...]:
    """Each planned tag's action for `digest`, in write order; refuses a changed version tag
    (of either spelling) before any write is decided."""
    return tuple(
        (
            tag,
            decide_version_tag(tag, current.get(tag), digest)
            if is_version_tag(tag)
            else decide_alias_tag(current.get(tag), digest),
        )
        for tag in plan.tags
    )


def decide_tags(plan: PublishPlan, current: Mapping[str, str | None], digest: str) -> list[str]:
    """The tags to write for `digest` (those not already on it)."""
    return [
        tag
        for tag, action in tag_actions(plan, current, digest)
        if action is not TagAction.UNCHANGED
    ]


def _mismatches(plan: PublishPlan, image: PublishedImage) -> list[str]:
    found = []
    if sorted(image.platforms) != sorted(plan.platforms):
        found.append(f"holds {sorted(image.platforms)}, not {sorted(plan.platforms)}")
    if image.attestations:
        found.append("carries attestation manifests")
    for platform in sorted(image.platforms):
        labels = image.labels.get(platform, {})
        if labels.get(REVISION_LABEL) != plan.revision:
            found.append(f"was built for {platform} from commit {labels.get(REVISION_LABEL)}")
        if labels.get(VERSION_LABEL) != str(plan.version):
            found.append(f"is labelled version {labels.get(VERSION_LABEL)} for {platform}")
    return found


def decide_publish(plan: PublishPlan, state: RegistryState) -> PublishDecision:
    """Adopt the published release, or build a new one; refuses (nothing written yet) when
    the registry holds a different build of this version or the staging tag is released."""
    released = {tag: digest for tag in plan.version_tags if (digest := state.tags.get(tag))}
    if len(set(released.values())) > 1:
        pointing = ", ".join(f"{tag} -> {digest}" for tag, digest in released.items())
        raise ReleaseError(
            f"Publishing {plan.version}",
            f"its version tags point at different builds ({pointing}); nothing was pushed",
            "Released versions are immutable: release a new version instead.",
        )
    if released:
        digest = next(iter(released.values()))
        image = state.released
        if image is None or image.digest != digest:
            raise ReleaseError(
                f"Publishing {plan.version}",
                f"the registry state read for {digest} is missing",
                "Read it with read_registry_state first (this is a bug).",
            )
        if wrong := _mismatches(plan, image):
            raise ReleaseError(
                f"Publishing {plan.version}",
                f"it is already published as {digest}, which {'; '.join(wrong)}; nothing "
                "was pushed",
                "Released versions are immutable: release a new version instead.",
            )
        return PublishDecision(digest, tag_actions(plan, state.tags, digest))
    staging = state.tags.get(plan.staging_tag)
    if staging is not None:
        holders = [t for t in plan.tags if t != plan.staging_tag and state.tags.get(t) == staging]
        if holders:
            raise ReleaseError(
                f"Publishing {plan.version}",
                f"{plan.staging_tag} is {staging}, which {', '.join(holders)} point at; the "
                "staging push would move it; nothing was pushed",
                f"Point {plan.staging_tag} at that release again or release a new version.",
            )
    return PublishDecision(None)


def read_published(host: Host, repository: str, digest: str) -> PublishedImage:
    ref = f"{repository}@{digest}"
    entries = index_entries(host.docker.imagetools_inspect_raw(ref) or {})
    platforms = [entry.os_arch for entry in entries if not entry.attestation]
    attestations = any(entry.attestation for entry in entries)
    configs = host.docker.image_configs(ref)
    labels = {
        platform: dict((config.get("config") or {}).get("Labels") or {})
        for platform, config in configs.items()
    }
    return PublishedImage(digest, tuple(platforms), labels, attestations)


def read_registry_state(host: Host, plan: PublishPlan) -> RegistryState:
    """Every planned tag's digest, and the released image when the version tags agree."""
    tags = current_digests(host, plan)
    released = {digest for tag in plan.version_tags if (digest := tags.get(tag))}
    image = read_published(host, plan.repository, released.pop()) if len(released) == 1 else None
    return RegistryState(tags, image)


def describe(plan: PublishPlan, state: RegistryState, decision: PublishDecision) -> str:
    lines = [f"publish {plan.version} ({plan.revision[:12]}) for {', '.join(plan.platforms)}"]
    if decision.adopt is not None:
        lines.append(
            f"  adopt {plan.repository}@{decision.adopt}: already published from this commit "
            "for the planned platforms; no build, no push"
        )
        for tag, action in decision.actions:
            now = state.tags.get(tag)
            lines.append(
                f"  {_VERBS[action]} {plan.ref(tag)}" + (f" (now {now})" if now else " (new)")
            )
        return "\n".join(lines)
    staged = state.tags.get(plan.staging_tag)
    lines.append(
        f"  push {plan.staging_ref} (all platforms, then checks; no other tag yet)"
        + (f"; now {staged}, a build no release points at" if staged else "")
    )
    for tag in plan.tags:
        if tag != plan.staging_tag:
            now = state.tags.get(tag)
            lines.append(f"  write {plan.ref(tag)}" + (f" (now {now})" if now else " (new)"))
    return "\n".join(lines)


def current_digests(host: Host, plan: PublishPlan) -> dict[str, str | None]:
    return {tag: host.docker.manifest_digest(plan.ref(tag)) for tag in plan.tags}


# -- doing -----------------------------------------------------------------------------------


def push_build(host: Host, plan: PublishPlan, build: BuildxRequest) -> str:
    """Build and push every platform under the staging tag; return the index digest."""
    with tempfile.TemporaryDirectory(prefix="agent-runner-publish-") as scratch:
        metadata = Path(scratch) / "metadata.json"
        host.docker.buildx_build(staging_request(plan, build, metadata), log=stderr_log())
        digest: str = json.loads(metadata.read_text(encoding="utf-8"))["containerimage.digest"]
    return digest


def platform_manifests(host: Host, plan: PublishPlan, digest: str) -> dict[str, str]:
    """Platform -> manifest digest of the pushed index; refuses a missing or extra platform."""
    index = host.docker.imagetools_inspect_raw(f"{plan.repository}@{digest}") or {}
    found: dict[str, str] = {}
    for entry in index_entries(index):
        if entry.attestation:
            raise ReleaseError(
                f"Checking {plan.repository}@{digest}",
                "it carries attestation manifests (unknown/unknown platforms)",
                "Build with provenance and SBOM off; release.yml attests separately.",
            )
        found[entry.os_arch] = entry.digest
    if sorted(found) != sorted(plan.platforms):
        raise RegistryError(
            f"Checking {plan.repository}@{digest}",
            f"it holds {sorted(found) or 'no platforms'}, not {sorted(plan.platforms)}",
            "Nothing was tagged. Rerun the publish once the registry accepts every platform.",
        )
    return found


@dataclass(frozen=True)
class StartCheck:
    """How to start a platform's image once: `docker run --rm [options] REF [args]`."""

    options: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


def verify_platforms(
    host: Host, plan: PublishPlan, manifests: Mapping[str, str], start: StartCheck | None
) -> None:
    """Pull each platform back by digest; check platform, labels, and that it starts.
    A copy the engine did not hold before is removed again, whatever the check found."""
    for platform, manifest_digest in sorted(manifests.items()):
        ref = f"{plan.repository}@{manifest_digest}"
        held = host.docker.image_inspect(ref) is not None
        host.docker.image_pull(ref, platform=platform)
        try:
            _check_pulled(host, plan, ref, platform, start)
        finally:
            if not held:
                host.docker.image_remove(ref)


def _check_pulled(
    host: Host, plan: PublishPlan, ref: str, platform: str, start: StartCheck | None
) -> None:
    config = host.docker.image_inspect(ref) or {}
    actual = f"{config.get('Os')}/{config.get('Architecture')}"
    labels = (config.get("Config") or {}).get("Labels") or {}
    expected = {VERSION_LABEL: str(plan.version), REVISION_LABEL: plan.revision}
    wrong = {k: labels.get(k) for k, v in expected.items() if labels.get(k) != v}
    if actual != platform or wrong:
        raise ReleaseError(
            f"Verifying {ref}",
            f"it is {actual} with labels {wrong}, expected {platform} with {expected}",
            "Nothing was tagged. Fix the build's platform or label arguments and rerun.",
        )
    if start is not None:
        run_args = ["--rm", "--platform", platform, *start.options, ref, *start.args]
        host.docker.container_run(run_args, env={})


def write_tags(
    host: Host, plan: PublishPlan, digest: str, current: Mapping[str, str | None] | None = None
) -> list[str]:
    """Point the planned tags at `digest` (against `current`, read now when not given);
    returns the tags actually written."""
    writes = decide_tags(plan, current_digests(host, plan) if current is None else current, digest)
    source = f"{plan.repository}@{digest}"
    for tag in writes:
        host.docker.imagetools_create(plan.ref(tag), [source])
    return writes


def _write_outputs(host: Host, values: Mapping[str, str]) -> None:
    """For the release workflow: step outputs (the digest to scan, sign and attest...)."""
    outputs = host.process.environment().get("GITHUB_OUTPUT")
    if outputs:
        with Path(outputs).open("a", encoding="utf-8") as file:
            file.writelines(f"{key}={value}\n" for key, value in values.items())


def _push_checked(
    host: Host,
    plan: PublishPlan,
    prepare_build: Callable[[], BuildxRequest],
    start: StartCheck | None,
    gates: Sequence[Callable[[str], None]],
) -> tuple[str, dict[str, str]]:
    """Build and push by digest, then gate it and check every platform starts; returns the
    index digest and each platform's manifest digest. Nothing is tagged."""
    digest = push_build(host, plan, prepare_build())
    manifests = platform_manifests(host, plan, digest)
    for gate in gates:
        gate(f"{plan.repository}@{digest}")
    verify_platforms(host, plan, manifests, start)
    return digest, manifests


def stage(
    host: Host,
    plan: PublishPlan,
    prepare_build: Callable[[], BuildxRequest],
    *,
    start: StartCheck | None,
    gates: Sequence[Callable[[str], None]] = (),
    dry_run: bool = False,
) -> tuple[str, dict[str, str]] | None:
    """`--stage-only`: the checked push (or the adopted release), no tag written; returns
    the index digest and each platform's manifest digest (None for a dry run)."""
    state = read_registry_state(host, plan)
    decision = decide_publish(plan, state)
    print(describe(plan, state, decision))
    print("  stage only: stop before the tags; print the digest to scan, sign and verify")
    if dry_run:
        print("dry run: nothing pushed or tagged")
        return None
    if decision.adopt is not None:
        digest = decision.adopt
        manifests = platform_manifests(host, plan, digest)
    else:
        digest, manifests = _push_checked(host, plan, prepare_build, start, gates)
    print(f"staged {plan.repository}@{digest}")
    return digest, manifests


def tag_digest(host: Host, plan: PublishPlan, digest: str, *, dry_run: bool = False) -> list[str]:
    """`--from-digest`: point the planned tags at `digest`, no build; refuses a digest that is
    not this commit's build of the planned platforms, or a version tag on another digest."""
    image = read_published(host, plan.repository, digest)
    if wrong := _mismatches(plan, image):
        raise ReleaseError(
            f"Tagging {plan.repository}@{digest}",
            f"it {'; '.join(wrong)}; nothing was tagged",
            "Pass the digest that publish --stage-only printed for this commit.",
        )
    current = current_digests(host, plan)
    lines = [f"tag {plan.repository}@{digest} as {plan.version} ({plan.revision[:12]}); no build"]
    for tag, action in tag_actions(plan, current, digest):  # refuses a moved version tag
        now = current.get(tag)
        lines.append(f"  {_VERBS[action]} {plan.ref(tag)}" + (f" (now {now})" if now else " (new)"))
    print("\n".join(lines))
    if dry_run:
        print("dry run: nothing tagged")
        return []
    written = write_tags(host, plan, digest, current)
    print(f"published {plan.repository}@{digest}; wrote {', '.join(written) or 'nothing new'}")
    return written


def publish(
    host: Host,
    plan: PublishPlan,
    prepare_build: Callable[[], BuildxRequest],
    *,
    start: StartCheck | None,
    gates: Sequence[Callable[[str], None]] = (),
    dry_run: bool = False,
) -> str | None:
    """The whole sequence; returns the index digest (None for a dry run). `prepare_build`
    makes the build request, and is called only when a build is needed."""
    state = read_registry_state(host, plan)
    decision = decide_publish(plan, state)
    print(describe(plan, state, decision))
    if dry_run:
        print("dry run: nothing pushed or tagged")
        return None
    if decision.adopt is not None:
        digest = decision.adopt
        written = write_tags(host, plan, digest, state.tags)  # read just now
    else:
        digest, _ = _push_checked(host, plan, prepare_build, start, gates)
        written = write_tags(host, plan, digest)  # read again: the build took a while
    print(f"published {plan.repository}@{digest}; wrote {', '.join(written) or 'nothing new'}")
    return digest


def resolve(host: Host, repository: str, version: semver.Version) -> str:
    """The pinned reference the CLI of `version` pulls: `repository:X.Y.Z@sha256:...`
    (`vX.Y.Z` points at the same digest)."""
    ref = f"{repository}:{version}"
    digest = host.docker.manifest_digest(ref)
    if digest is None:
        raise ReleaseError(
            f"Resolving agent-runner {version}",
            f"{ref} was never published",
            "Use a released version (see the registry's tags), or publish it: nox -s publish.",
        )
    return f"{ref}@{digest}"


def release_from_head(host: Host, root: Path) -> tuple[semver.Version, str]:
    """The version of the `vX.Y.Z` tag on HEAD and the commit; refuses drift or no tag."""
    revision = host.git.run(["rev-parse", "HEAD"], cwd=root).strip()
    tags = host.git.run(["tag", "--points-at", "HEAD", "--list", "v*"], cwd=root).split()
    versions = [v for tag in tags if (v := version_from_tag(tag)) is not None]
    if len(versions) != 1:
        raise ReleaseError(
            f"Publishing commit {revision[:12]}",
            f"it carries {len(versions)} release tags ({', '.join(tags) or 'none'}), not one",
            "Check out the release tag (git checkout vX.Y.Z) made by nox -s release.",
        )
    declared = read_project_version(root / RUNNER_PYPROJECT)
    if declared != str(versions[0]):
        raise ReleaseError(
            f"Publishing {versions[0]}",
            f"{RUNNER_PYPROJECT} says version {declared}",
            "Cut releases with nox -s release so the tag and the version cannot drift.",
        )
    return versions[0], revision


def image_request(config: ToolConfig, host: Host, version: semver.Version) -> BuildxRequest:
    """The agent-runner image build from the build plan (`staging_request` says where to)."""
    from build_tools.image.build import gather_source_info, source_date
    from build_tools.image.plan import BuildOptions, make_build_plan
    from build_tools.image.wheelhouse import prepare_image_wheelhouse

    options = BuildOptions(
        host_platform=config.platforms[0],
        platforms=config.platforms,
        push=True,
        registry=config.registry,
        version=str(version),
    )
    source = gather_source_info(config, host)
    plan = make_build_plan(config, options, source, source_date(host, config.project_root))
    prepare_image_wheelhouse(config, plan.platforms, host, stderr_log())
    return plan.request()


# Starting the real image means importing the worker and its dependencies on each platform
# (without Temporal to connect to, `agent_runner` itself would exit on its config check).
IMAGE_START = StartCheck(
    options=("--entrypoint", "python3"), args=("-c", "import agent_runner.worker")
)


def run_publish(args: PublishArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.image.size import enforce_size_budget, measure_pushed

    version, revision = release_from_head(host, config.project_root)
    repository = f"{config.registry}/{config.image}"
    plan = plan_publish(
        repository, version, revision, config.platforms, registry_versions(host, repository)
    )
    if not args.dry_run:
        host.docker.ensure()

    def size_gate(ref: str) -> None:
        enforce_size_budget(measure_pushed(ref, host.registry), config.budgets.image_size_mb)

    # For the release workflow: whether GitHub's "latest" moves, and the digests to scan,
    # sign and attest (`platform_linux_amd64`: a platform's manifest, for the scanner).
    latest = {"latest": str(LATEST in plan.tags).lower()}
    if args.from_digest is not None:
        tag_digest(host, plan, args.from_digest, dry_run=args.dry_run)
        if not args.dry_run:
            _write_outputs(host, {"digest": args.from_digest, **latest})
        return 0

    def build() -> BuildxRequest:
        return image_request(config, host, version)

    if args.stage_only:
        staged = stage(
            host, plan, build, start=IMAGE_START, gates=(size_gate,), dry_run=args.dry_run
        )
        if staged is not None:
            digest, manifests = staged
            print(digest)  # the last line: what the workflow scans, signs and tags
            platforms = {
                "platform_" + platform.replace("/", "_"): manifest
                for platform, manifest in manifests.items()
            }
            _write_outputs(host, {"digest": digest, **latest, **platforms})
        return 0
    published = publish(
        host, plan, build, start=IMAGE_START, gates=(size_gate,), dry_run=args.dry_run
    )
    if published is not None:
        _write_outputs(host, {"digest": published, **latest})
    return 0
