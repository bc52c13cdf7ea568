"""What `build` will do, computed without doing it: platforms, tags, labels, build args.

`make_build_plan` is pure: everything it needs (settings, command-line options, facts about
the source tree, the source date) is passed in. `--dry-run` prints its result;
`build_tools.image.build` carries it out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from build_tools.config import ToolConfig
from build_tools.docker import BuildxRequest
from build_tools.errors import ConfigError
from build_tools.runtime.contract_loader import Contract

DEFAULT_TAG = "dev"
UNKNOWN_REVISION = "unknown"
LABEL_PREFIX = "org.opencontainers.image."
# Build args the Dockerfile turns into OCI labels: label suffix -> build arg.
_LABEL_ARGS = {
    "version": "VERSION",
    "revision": "REVISION",
    "created": "CREATED",
    "source": "SOURCE",
    "base.name": "BASE_IMAGE",
}
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


@dataclass(frozen=True)
class BuildOptions:
    """What a build is asked for: the `build` command line (`options.BuildArguments`) minus
    what `ToolConfig` already resolved, or what publish and bench ask for."""

    host_platform: str  # the engine's platform, e.g. linux/amd64
    platforms: tuple[str, ...] | None = None  # explicit --platform; None: the default
    push: bool = False
    registry: str | None = None  # explicit --registry
    extra_tags: tuple[str, ...] = ()
    version: str | None = None  # explicit --version
    no_cache: bool = False
    bytecode: bool | None = None  # None: the Dockerfile's default
    sources: bool | None = None  # the dependencies' .py files; None: the Dockerfile's default


@dataclass(frozen=True)
class SourceInfo:
    """Facts read from the source tree (through the Host) for labels and build args."""

    revision: str  # git commit, or "unknown" outside a git checkout
    project_version: str  # agent-runner's pyproject version
    source_url: str  # where the source lives ("" when unknown)
    runtime: Contract  # the uid, gid and workspace the image must agree on


@dataclass(frozen=True)
class BuildPlan:
    context: Path
    dockerfile: Path
    platforms: tuple[str, ...]
    tags: tuple[str, ...]
    labels: dict[str, str]
    base_image: str
    base_digest: str | None  # set when the base reference is pinned by digest
    build_args: dict[str, str]
    push: bool
    load: bool
    builder: str | None
    registry: str | None  # where tags are pushed; None when only loaded
    no_cache: bool

    @property
    def primary_ref(self) -> str:
        """The reference that reports and follow-up steps use (the first tag)."""
        return self.tags[0]

    def request(self, *, metadata_file: Path | None = None) -> BuildxRequest:
        # Labels reach the image through build args (so a plain `docker build` sets them
        # too); passing them again as --label would only duplicate them.
        return BuildxRequest(
            context=self.context,
            dockerfile=self.dockerfile,
            platforms=self.platforms,
            tags=self.tags,
            build_args=dict(self.build_args),
            push=self.push,
            load=self.load,
            builder=self.builder,
            no_cache=self.no_cache,
            metadata_file=metadata_file,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "platforms": list(self.platforms),
            "tags": list(self.tags),
            "push": self.push,
            "load": self.load,
            "registry": self.registry,
            "builder": self.builder,
            "base_image": self.base_image,
            "base_digest": self.base_digest,
            "context": str(self.context),
            "dockerfile": str(self.dockerfile),
            "no_cache": self.no_cache,
            "labels": dict(self.labels),
            "build_args": dict(self.build_args),
        }

    def describe(self) -> str:
        """Aligned `key: value` text for `--dry-run`."""
        action = "push to " + str(self.registry) if self.push else "load into the local engine"
        rows: list[tuple[str, str]] = [
            ("platforms", ", ".join(self.platforms)),
            ("tags", ", ".join(self.tags)),
            ("action", action),
            ("builder", self.builder or "(default)"),
            ("base image", self.base_image),
            ("base digest", self.base_digest or "(not pinned)"),
            ("dockerfile", str(self.dockerfile)),
            ("cache", "off" if self.no_cache else "on"),
        ]
        rows += [(f"label {key}", value) for key, value in sorted(self.labels.items())]
        rows += [(f"build-arg {key}", value) for key, value in sorted(self.build_args.items())]
        width = max(len(key) for key, _ in rows)
        return "\n".join(f"{key.ljust(width)}  {value or '(none)'}" for key, value in rows) + "\n"

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def created_timestamp(now: datetime) -> str:
    """RFC 3339 UTC, second precision, as OCI `created` labels use."""
    return _utc(now).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_seconds(moment: datetime) -> int:
    """SOURCE_DATE_EPOCH for `moment`: whole seconds since 1970 (earlier is clamped to 0)."""
    return max(0, int(_utc(moment).timestamp()))


def _tag_ref(repository: str, tag: str) -> str:
    if "/" in tag or ":" in tag:
        return tag  # already a full reference
    if not _TAG.match(tag):
        raise ConfigError(
            f"Using tag {tag!r}",
            "it is not a valid image tag",
            "Use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-').",
        )
    return f"{repository}:{tag}"


def make_build_plan(
    config: ToolConfig, options: BuildOptions, source: SourceInfo, source_date: datetime
) -> BuildPlan:
    """Everything `build` will do, from settings, options, source facts and the source date.

    `source_date` (the commit time, see `build.source_date`) is the image's only time: it
    becomes the `created` label and SOURCE_DATE_EPOCH, to which BuildKit and the Dockerfile
    clamp every timestamp, so the same commit and inputs give the same digests.

    Default: the engine's platform only, loaded into the local engine as `<image>:dev`.
    `--push` builds the configured platforms (or `--platform`) and pushes them to
    `--registry` (default: the configured registry; in offline mode the local one).
    """
    if options.platforms is not None:
        platforms = options.platforms
    elif options.push:
        platforms = config.platforms
    else:
        platforms = (options.host_platform,)
    load = not options.push
    if load and len(platforms) > 1:
        raise ConfigError(
            f"Loading {', '.join(platforms)} into the local engine",
            "the docker driver loads one platform at a time",
            "Add --push (with --registry REGISTRY) to publish every platform, "
            "or pass --platform with one platform.",
        )
    registry: str | None = None
    if options.push:
        registry = options.registry or (
            config.local_registry if config.offline else config.registry
        )
    repository = f"{registry}/{config.image}" if registry else config.image
    version = options.version or source.project_version
    main_tag = options.version or DEFAULT_TAG
    tags: list[str] = []
    for tag in (main_tag, *options.extra_tags):
        ref = _tag_ref(repository, tag)
        if ref not in tags:
            tags.append(ref)
    base = config.effective_base_image
    digest = _DIGEST.search(base)
    build_args = {
        "BASE_IMAGE": base,
        "VERSION": version,
        "REVISION": source.revision,
        "CREATED": created_timestamp(source_date),
        "SOURCE_DATE_EPOCH": str(epoch_seconds(source_date)),
        "SOURCE": source.source_url,
        "RUNTIME_UID": str(source.runtime.runtime_uid),
        "RUNTIME_GID": str(source.runtime.runtime_gid),
        "WORKSPACE": source.runtime.workspace_mount,
    }
    if options.bytecode is not None:
        build_args["COMPILE_BYTECODE"] = "1" if options.bytecode else "0"
    if options.sources is not None:
        build_args["DEPENDENCY_SOURCES"] = "1" if options.sources else "0"
    elif options.bytecode is False:
        build_args["DEPENDENCY_SOURCES"] = "1"  # without bytecode the sources are the code
    if options.bytecode is False and options.sources is False:
        raise ConfigError(
            "Building without bytecode and without the dependencies' sources",
            "nothing would be left to import",
            "Drop --bytecode no or --sources no.",
        )
    labels = {
        "org.opencontainers.image.title": "agent-runner",
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    labels.update({LABEL_PREFIX + suffix: build_args[arg] for suffix, arg in _LABEL_ARGS.items()})
    return BuildPlan(
        context=config.project_root,
        dockerfile=config.project_root / "Dockerfile",
        platforms=platforms,
        tags=tuple(tags),
        labels=labels,
        base_image=base,
        base_digest=digest.group(1) if digest else None,
        build_args=build_args,
        push=options.push,
        load=load,
        builder=config.builder,
        registry=registry,
        no_cache=options.no_cache,
    )
