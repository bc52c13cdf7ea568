"""Each command's command line, typed: what `build_tools.cli` turns argparse's Namespace
into right after parsing, and the only thing the `run_*` handlers receive.

Values are parsed here once (a release's version request, `resolve`'s version, `--bytecode`,
`--sources`);
flags, defaults and help texts stay with the parser in cli.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import semver

from build_tools.release.versioning import VersionRequest


@dataclass(frozen=True)
class ConfigOverrides:
    """Settings given on the command line, above every other source (None: not given)."""

    offline: bool | None = None
    platforms: str | None = None  # as typed (comma-separated); load_config checks it
    builder: str | None = None
    registry: str | None = None
    # `gates` thresholds (--layer-efficiency, --wasted-mb, --user-wasted-ratio)
    layer_efficiency: float | None = None
    wasted_mb: float | None = None
    user_wasted_ratio: float | None = None

    def as_settings(self) -> dict[str, object]:
        """The given ones by setting name, as `load_config` takes them."""
        return {name: value for name, value in asdict(self).items() if value is not None}


NO_OVERRIDES = ConfigOverrides()


class CommandArguments(Protocol):
    """What every command's arguments carry: their settings overrides."""

    @property
    def overrides(self) -> ConfigOverrides: ...


@dataclass(frozen=True)
class BuildArguments:
    """`build`: build the image and enforce the size budget."""

    overrides: ConfigOverrides = NO_OVERRIDES
    push: bool = False
    tags: tuple[str, ...] = ()  # extra tags (--tag, repeatable)
    version: str | None = None  # --version: version label and tag
    dry_run: bool = False
    json: bool = False
    no_cache: bool = False
    report_dir: Path | None = None
    bytecode: bool | None = None  # --bytecode yes|no; None: the Dockerfile's choice
    sources: bool | None = None  # --sources yes|no (dependencies' .py); None: Dockerfile's


@dataclass(frozen=True)
class GatesArguments:
    """`gates`: structure test and layer-efficiency gate of a pushed image, per platform."""

    image: str
    overrides: ConfigOverrides = NO_OVERRIDES
    report_dir: Path | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class BaseImageArguments:
    """`base-image`: seed the offline base image."""

    overrides: ConfigOverrides = NO_OVERRIDES
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class BenchArguments:
    """`bench`: time cold, warm and cross-platform builds."""

    overrides: ConfigOverrides = NO_OVERRIDES
    report_dir: Path | None = None


@dataclass(frozen=True)
class TemporalImageArguments:
    """`temporal-image`: build (or pull) the Temporal dev-server image."""

    overrides: ConfigOverrides = NO_OVERRIDES
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class StartupArguments:
    """`startup`: measure an image's cold start and idle memory."""

    image: str
    runs: int
    report_dir: Path | None = None
    overrides: ConfigOverrides = NO_OVERRIDES


@dataclass(frozen=True)
class ProtosArguments:
    """`protos`: regenerate (or check) agent-runner's protobuf code."""

    check: bool = False
    out: Path | None = None  # generate under this directory instead of the checkout's
    overrides: ConfigOverrides = NO_OVERRIDES


@dataclass(frozen=True)
class ReleaseArguments:
    """`release`: bump, commit and tag a new version."""

    request: VersionRequest
    dry_run: bool = False
    overrides: ConfigOverrides = NO_OVERRIDES


@dataclass(frozen=True)
class PublishArguments:
    """`publish`: push the tagged release and write its tags."""

    overrides: ConfigOverrides = NO_OVERRIDES
    dry_run: bool = False
    stage_only: bool = False  # push and check, print the digest; write no tag
    from_digest: str | None = None  # tag this staged digest; no build


@dataclass(frozen=True)
class ResolveArguments:
    """`resolve`: the pinned image a CLI version pulls."""

    version: semver.Version
    overrides: ConfigOverrides = NO_OVERRIDES


@dataclass(frozen=True)
class ChangelogArguments:
    """`changelog`: create a _changelog/ entry."""

    summary: str
    kind: str  # --type
    overrides: ConfigOverrides = NO_OVERRIDES


@dataclass(frozen=True)
class CheckChangelogArguments:
    """`check-changelog`: validate the _changelog/ entries (no arguments)."""

    overrides: ConfigOverrides = NO_OVERRIDES


@dataclass(frozen=True)
class ReleaseNotesArguments:
    """`release-notes`: print the notes of an existing release tag."""

    tag: str
    overrides: ConfigOverrides = NO_OVERRIDES


@dataclass(frozen=True)
class ReportArguments:
    """`report`: the HTML page and Markdown summary of the JSON reports."""

    reports: Path | None = None  # None: build/reports under the project root
    baseline: Path | None = None
    output: Path | None = None  # None: report.html in the reports directory
    overrides: ConfigOverrides = NO_OVERRIDES
