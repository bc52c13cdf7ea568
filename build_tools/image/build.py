"""`build`: gather facts, plan, fill the wheelhouse, run buildx, then gate the image size.

The plan (`build_tools.image.plan`) decides; this module only carries it out through the Host.
"""

from __future__ import annotations

import json
import platform as platform_module
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from build_tools.config import ToolConfig
from build_tools.docker import stderr_log
from build_tools.errors import (
    BuildError,
    ConfigError,
    DockerDaemonError,
    DockerMissingError,
    ExternalCommandError,
    GitError,
)
from build_tools.host import Host
from build_tools.image.plan import (
    UNKNOWN_REVISION,
    BuildOptions,
    BuildPlan,
    SourceInfo,
    make_build_plan,
)
from build_tools.image.wheelhouse import prepare_image_wheelhouse
from build_tools.options import BuildArguments
from build_tools.platforms import LINUX_AMD64, SUPPORTED_PLATFORMS, platform_of_machine
from build_tools.project import RUNNER_PYPROJECT, read_project_version, require_checkout
from build_tools.runtime.contract_loader import read_contract

METADATA_FILE = "build-metadata.json"  # beside the reports: buildx's result (digest)
SIZE_REPORT_STEM = "image-size"
_SCP_LIKE = re.compile(r"^[\w.-]+@([\w.-]+):(.+)$")  # git@host:owner/repo.git
# BuildKit's words when a FROM image cannot be fetched, e.g. "failed to resolve source
# metadata for docker.io/library/python:3.13-slim@sha256:...: failed to do request: Head
# ...: dial tcp: lookup registry-1.docker.io on ...: no such host", or "...: not found".
_UNRESOLVED_SOURCE = re.compile(r"failed to resolve source metadata for (\S+): (.+?)(?: \| |$)")


def engine_platform(host: Host) -> str:
    """The Docker engine's platform (it may be remote), as linux/<arch>."""
    found = host.docker.engine_platform()
    if found not in SUPPORTED_PLATFORMS:
        raise ConfigError(
            "Choosing the platform to build",
            f"the Docker engine runs on {found or 'an unknown platform'}, which the image "
            "does not support",
            f"Pass --platform with one of {', '.join(SUPPORTED_PLATFORMS)} (and --push).",
        )
    return found


def _host_platform(host: Host, *, dry_run: bool) -> str:
    try:
        return engine_platform(host)
    except (DockerMissingError, DockerDaemonError, ExternalCommandError):
        if not dry_run:
            raise
        # A dry run may be read on a machine without Docker: assume this machine's arch.
        return (platform_of_machine(platform_module.machine()) or LINUX_AMD64).name


def public_source_url(remote: str) -> str:
    """An https URL for a git remote, without credentials (it ends up in a label)."""
    remote = remote.strip()
    if scp := _SCP_LIKE.match(remote):
        return f"https://{scp.group(1)}/{scp.group(2).removesuffix('.git')}"
    if "://" in remote:
        scheme, rest = remote.split("://", 1)
        host_and_path = rest.split("@", 1)[-1] if "@" in rest.split("/", 1)[0] else rest
        scheme = "https" if scheme in {"ssh", "git", "git+ssh"} else scheme
        return f"{scheme}://{host_and_path.removesuffix('.git')}"
    return ""  # a local path: nothing public to point at


def _git_or_empty(host: Host, args: list[str], root: Path) -> str:
    try:
        return host.git.run(args, cwd=root).strip()
    except (GitError, ExternalCommandError):
        return ""  # not a git checkout, git missing, or no such setting


def gather_source_info(config: ToolConfig, host: Host) -> SourceInfo:
    root = config.project_root
    revision = _git_or_empty(host, ["rev-parse", "HEAD"], root) or UNKNOWN_REVISION
    remote = _git_or_empty(host, ["config", "--get", "remote.origin.url"], root)
    return SourceInfo(
        revision=revision,
        project_version=read_project_version(root / RUNNER_PYPROJECT),
        source_url=public_source_url(remote) if remote else "",
        runtime=read_contract(root),  # the one the image ships
    )


def docker_hub_name(ref: str) -> str:
    """`python:3.13-slim` as BuildKit names it (`docker.io/library/python:3.13-slim`)."""
    first, slash, _ = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if slash else f"docker.io/library/{ref}"


def explain_base_image_failure(error: BuildError, config: ToolConfig) -> BuildError:
    """A build that failed because its base image could not be pulled, as one sentence that
    names the image and the ways out; any other failure unchanged."""
    found = _UNRESOLVED_SOURCE.search(error.because)
    base = config.effective_base_image
    if found is None or docker_hub_name(found.group(1)) != docker_hub_name(base):
        return error
    reason = found.group(2).rsplit(": ", 1)[-1].strip()
    if config.offline:
        return BuildError(
            "Building the image",
            f"the offline base image {base} cannot be pulled from the local registry ({reason})",
            "Seed it with `nox -s base_image` (the registry must be up: bash "
            ".ci/provision-docker-host), or unset AGENT_RUNNER_BUILD_OFFLINE to build from "
            f"{config.base_image} with registry access.",
        )
    return BuildError(
        "Building the image",
        f"its base image {base} cannot be pulled ({reason})",
        "Give this host access to that registry (network, proxy or docker login), or build "
        "from the offline base: run `nox -s base_image` once, then set "
        "AGENT_RUNNER_BUILD_OFFLINE=1.",
    )


def source_date(host: Host, root: Path) -> datetime:
    """The one time an image carries: SOURCE_DATE_EPOCH when set, else the commit time of
    HEAD (so every clone and every day builds the same digests), else, outside a git
    checkout, now."""
    epoch = host.process.environment().get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        committed = _git_or_empty(host, ["log", "-1", "--format=%ct", "HEAD"], root)
        if not committed.isdigit():
            return datetime.now(UTC)  # not a git checkout: nothing to be reproducible against
        return datetime.fromtimestamp(int(committed), UTC)
    if not epoch.isdigit():
        raise ConfigError(
            "Reading SOURCE_DATE_EPOCH",
            f"{epoch!r} is not a whole number of seconds",
            "Set it to a Unix timestamp (e.g. `git log -1 --format=%ct`) or unset it.",
        )
    return datetime.fromtimestamp(int(epoch), UTC)


def options_from_args(args: BuildArguments, config: ToolConfig, host_platform: str) -> BuildOptions:
    return BuildOptions(
        host_platform=host_platform,
        platforms=config.platforms if args.overrides.platforms else None,
        push=args.push,
        registry=args.overrides.registry,
        extra_tags=args.tags,
        version=args.version,
        no_cache=args.no_cache,
        bytecode=args.bytecode,
        sources=args.sources,
    )


def read_digest(metadata_file: Path) -> str | None:
    """The pushed/loaded image (index) digest from buildx's --metadata-file, if it wrote one."""
    try:
        data = json.loads(metadata_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    digest = data.get("containerimage.digest") if isinstance(data, dict) else None
    return str(digest) if digest else None


def gate_size(
    plan: BuildPlan, config: ToolConfig, host: Host, report_dir: Path, out: IO[str]
) -> None:
    """Measure each platform from its real source, write the report, then enforce the budget."""
    from build_tools.image.size import (
        docker_images_note,
        enforce_size_budget,
        measure_local,
        measure_pushed,
        size_report,
    )
    from build_tools.report import write_report

    ref = plan.primary_ref
    sizes = measure_pushed(ref, host.registry) if plan.push else measure_local(ref, host.docker)
    budget = config.budgets.image_size_mb
    json_path, md_path = write_report(
        size_report(ref, sizes, budget),
        report_dir,
        SIZE_REPORT_STEM,
        env=host.process.environment(),
    )
    for size in sizes:
        out.write(
            f"size {size.platform}: {size.unpacked_bytes / 1e6:.1f} MB unpacked, "
            f"{size.compressed_bytes / 1e6:.1f} MB compressed (budget {budget:g} MB unpacked)\n"
        )
        out.write(f"  {docker_images_note(size)}\n")
    out.write(f"size report: {md_path} and {json_path}\n")
    enforce_size_budget(sizes, budget)  # after writing: a failing gate still leaves its report


def run_build(args: BuildArguments, config: ToolConfig, host: Host) -> int:
    """`python -m build_tools build`: 0 when the image is built and within its size budget."""
    require_checkout(config.project_root, "Building the image")  # Dockerfile, lock, sources
    out = sys.stdout
    dry_run = args.dry_run
    if not dry_run:
        host.docker.ensure()
    explicit = bool(args.overrides.platforms)
    host_platform = config.platforms[0] if explicit else _host_platform(host, dry_run=dry_run)
    options = options_from_args(args, config, host_platform)
    source = gather_source_info(config, host)
    plan = make_build_plan(config, options, source, source_date(host, config.project_root))
    if dry_run:
        out.write(plan.dumps() if args.json else plan.describe())
        return 0
    log = stderr_log()
    prepare_image_wheelhouse(config, plan.platforms, host, log)
    from build_tools.report import default_report_dir

    report_dir = args.report_dir or default_report_dir(config.project_root)
    report_dir.mkdir(parents=True, exist_ok=True)
    metadata_file = report_dir / METADATA_FILE
    metadata_file.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        host.docker.buildx_build(plan.request(metadata_file=metadata_file), log=log)
    except BuildError as error:
        raise explain_base_image_failure(error, config) from error
    seconds = time.monotonic() - started
    digest = read_digest(metadata_file)
    where = f"pushed to {plan.registry}" if plan.push else "loaded into the local engine"
    out.write(
        f"built {', '.join(plan.tags)} ({', '.join(plan.platforms)}) in {seconds:.1f} s, {where}"
        + (f"; digest {digest}" if digest else "")
        + "\n"
    )
    gate_size(plan, config, host, report_dir, out)
    return 0
