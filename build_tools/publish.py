"""`nox -s publish`: push a tagged release's image and write its tags, in a safe order.

1. Build every platform and push it under the commit's `sha-<short>` tag only (buildx's
   docker driver cannot push untagged; that tag names a build, not a release).
2. Check the pushed index: exactly the planned platforms, no attestation entries.
3. Verify each platform: pull it back by digest, check its OS/architecture and its version
   and revision labels, and start it.
4. Only then write `X.Y.Z` and `vX.Y.Z` (both immutable: a different existing digest is
   refused before anything is written, the same is a no-op) and the aliases `X.Y`, `X`,
   `latest` that `build_tools.tags.plan_tags` allows.

Attestations: the index carries none (they would show as unknown/unknown platforms to
`docker pull` and `imagetools inspect` users). Provenance and SBOM are attested by the
release workflow in GitHub's attestation store against the index digest; see release.yml.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import semver
import tomlkit

from build_tools.config import ToolConfig
from build_tools.errors import RegistryError, ReleaseError
from build_tools.host import BuildxRequest, Host, stderr_log
from build_tools.tags import (
    LATEST,
    TagAction,
    decide_alias_tag,
    decide_version_tag,
    is_version_tag,
    plan_tags,
    published_versions,
    sha_tag,
)

VERSION_LABEL = "org.opencontainers.image.version"
REVISION_LABEL = "org.opencontainers.image.revision"
_ATTESTATION = "vnd.docker.reference.type"


def registry_versions(host: Host, repository: str) -> tuple[semver.Version, ...]:
    return published_versions(host.registry_tags(repository))


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


def decide_tags(plan: PublishPlan, current: Mapping[str, str | None], digest: str) -> list[str]:
    """Tags to write for `digest` given their current digests; refuses a changed version tag
    (of either spelling) before any write is decided."""
    writes = []
    for tag in plan.tags:
        if is_version_tag(tag):
            action = decide_version_tag(tag, current.get(tag), digest)
        else:
            action = decide_alias_tag(current.get(tag), digest)
        if action is not TagAction.UNCHANGED:
            writes.append(tag)
    return writes


def describe(plan: PublishPlan, current: Mapping[str, str | None]) -> str:
    lines = [
        f"publish {plan.version} ({plan.revision[:12]}) for {', '.join(plan.platforms)}",
        f"  push {plan.ref(plan.staging_tag)} (all platforms, then checks; no other tag yet)",
    ]
    for tag in plan.tags:
        now = current.get(tag)
        lines.append(f"  write {plan.ref(tag)}" + (f" (now {now})" if now else " (new)"))
    return "\n".join(lines)


def current_digests(host: Host, plan: PublishPlan) -> dict[str, str | None]:
    return {tag: host.manifest_digest(plan.ref(tag)) for tag in plan.tags}


def push_build(host: Host, plan: PublishPlan, request: BuildxRequest) -> str:
    """Build and push every platform under the staging tag; return the index digest."""
    with tempfile.TemporaryDirectory(prefix="agent-runner-publish-") as scratch:
        metadata = Path(scratch) / "metadata.json"
        labels = {**request.labels, VERSION_LABEL: str(plan.version), REVISION_LABEL: plan.revision}
        pushed = replace(
            request,
            platforms=plan.platforms,
            tags=(plan.ref(plan.staging_tag),),
            labels=labels,
            push=True,
            load=False,
            provenance=False,
            sbom=False,
            metadata_file=metadata,
        )
        host.buildx_build(pushed, log=stderr_log())
        digest: str = json.loads(metadata.read_text(encoding="utf-8"))["containerimage.digest"]
    return digest


def platform_manifests(host: Host, plan: PublishPlan, digest: str) -> dict[str, str]:
    """Platform -> manifest digest of the pushed index; refuses a missing or extra platform."""
    index = host.imagetools_inspect_raw(f"{plan.repository}@{digest}")
    found: dict[str, str] = {}
    for manifest in index.get("manifests", []):
        if manifest.get("annotations", {}).get(_ATTESTATION):
            raise ReleaseError(
                f"Checking {plan.repository}@{digest}",
                "it carries attestation manifests (unknown/unknown platforms)",
                "Build with provenance and SBOM off; release.yml attests separately.",
            )
        platform = manifest.get("platform", {})
        found[f"{platform.get('os')}/{platform.get('architecture')}"] = manifest["digest"]
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
    """Pull each platform back by digest; check platform, labels, and that it starts."""
    for platform, manifest_digest in sorted(manifests.items()):
        ref = f"{plan.repository}@{manifest_digest}"
        host.run(["docker", "pull", "--quiet", "--platform", platform, ref])
        config = host.image_inspect(ref)
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
            argv = ["docker", "run", "--rm", "--platform", platform, *start.options, ref]
            host.run([*argv, *start.args])


def write_tags(host: Host, plan: PublishPlan, digest: str) -> list[str]:
    """Point the planned tags at `digest`; returns the tags actually written."""
    writes = decide_tags(plan, current_digests(host, plan), digest)
    source = f"{plan.repository}@{digest}"
    for tag in writes:
        host.imagetools_create(plan.ref(tag), [source])
    return writes


def publish(
    host: Host,
    plan: PublishPlan,
    request: BuildxRequest,
    *,
    start: StartCheck | None,
    gates: Sequence[Callable[[str], None]] = (),
    dry_run: bool = False,
) -> str | None:
    """The whole sequence; returns the index digest (None for a dry run)."""
    print(describe(plan, current_digests(host, plan)))
    if dry_run:
        print("dry run: nothing pushed or tagged")
        return None
    digest = push_build(host, plan, request)
    manifests = platform_manifests(host, plan, digest)
    for gate in gates:
        gate(f"{plan.repository}@{digest}")
    verify_platforms(host, plan, manifests, start)
    written = write_tags(host, plan, digest)
    print(f"published {plan.repository}@{digest}; wrote {', '.join(written) or 'nothing new'}")
    return digest


def resolve(host: Host, repository: str, version: str) -> str:
    """The pinned reference the CLI of `version` (`X.Y.Z` or `vX.Y.Z`) pulls:
    `repository:X.Y.Z@sha256:...` (`vX.Y.Z` points at the same digest)."""
    from build_tools.versioning import parse_version

    parsed = parse_version(version.removeprefix("v"))
    ref = f"{repository}:{parsed}"
    digest = host.manifest_digest(ref)
    if digest is None:
        raise ReleaseError(
            f"Resolving agent-runner {parsed}",
            f"{ref} was never published",
            "Use a released version (see the registry's tags), or publish it: nox -s publish.",
        )
    return f"{ref}@{digest}"


def release_from_head(host: Host, root: Path) -> tuple[semver.Version, str]:
    """The version of the `vX.Y.Z` tag on HEAD and the commit; refuses drift or no tag."""
    from build_tools.release import PYPROJECT, read_exact
    from build_tools.versioning import version_from_tag

    revision = host.git(["rev-parse", "HEAD"], cwd=root).strip()
    tags = host.git(["tag", "--points-at", "HEAD", "--list", "v*"], cwd=root).split()
    versions = [v for tag in tags if (v := version_from_tag(tag)) is not None]
    if len(versions) != 1:
        raise ReleaseError(
            f"Publishing commit {revision[:12]}",
            f"it carries {len(versions)} release tags ({', '.join(tags) or 'none'}), not one",
            "Check out the release tag (git checkout vX.Y.Z) made by nox -s release.",
        )
    declared = str(tomlkit.parse(read_exact(root / PYPROJECT))["project"]["version"])
    if declared != str(versions[0]):
        raise ReleaseError(
            f"Publishing {versions[0]}",
            f"{PYPROJECT} says version {declared}",
            "Cut releases with nox -s release so the tag and the version cannot drift.",
        )
    return versions[0], revision


def image_request(config: ToolConfig, host: Host, version: semver.Version) -> BuildxRequest:
    """The agent-runner image build from the build plan (`push_build` sets tags and push)."""
    from build_tools.build import build_clock, gather_source_info
    from build_tools.plan import BuildOptions, make_build_plan
    from build_tools.wheelhouse import prepare_image_wheelhouse

    options = BuildOptions(
        host_platform=config.platforms[0],
        platforms=config.platforms,
        push=True,
        registry=config.registry,
        version=str(version),
    )
    plan = make_build_plan(config, options, gather_source_info(config, host), build_clock(host))
    prepare_image_wheelhouse(config, plan.platforms, host, stderr_log())
    return plan.request()


# Starting the real image means importing the worker and its dependencies on each platform
# (without Temporal to connect to, `agent_runner` itself would exit on its config check).
IMAGE_START = StartCheck(
    options=("--entrypoint", "python3"), args=("-c", "import agent_runner.worker")
)


def run_publish(args: argparse.Namespace, config: ToolConfig, host: Host) -> int:
    from build_tools.size import enforce_size_budget, measure_pushed

    version, revision = release_from_head(host, config.project_root)
    repository = f"{config.registry}/{config.image}"
    plan = plan_publish(
        repository, version, revision, config.platforms, registry_versions(host, repository)
    )
    if args.dry_run:
        publish(
            host, plan, BuildxRequest(config.project_root, Path(), (), ()), start=None, dry_run=True
        )
        return 0
    host.ensure_docker()

    def size_gate(ref: str) -> None:
        enforce_size_budget(measure_pushed(ref, host), config.budgets.image_size_mb)

    request = image_request(config, host, version)
    digest = publish(host, plan, request, start=IMAGE_START, gates=(size_gate,))
    # For the release workflow: the digest to attest, and whether GitHub's "latest" moves.
    outputs = host.environment().get("GITHUB_OUTPUT")
    if outputs:
        with Path(outputs).open("a", encoding="utf-8") as file:
            file.write(f"digest={digest}\nlatest={str(LATEST in plan.tags).lower()}\n")
    return 0
