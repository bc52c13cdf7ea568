"""The command line, typed: each Namespace becomes its command's frozen arguments once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import semver

from build_tools.cli import make_parser
from build_tools.errors import ReleaseError
from build_tools.options import (
    BuildArguments,
    ConfigOverrides,
    ReleaseArguments,
    ResolveArguments,
    TemporalImageArguments,
)
from build_tools.platforms import LINUX_AMD64, LINUX_ARM64, platform_of_machine
from build_tools.release.versioning import Bump


def _typed(*argv: str) -> Any:
    namespace = make_parser().parse_args(list(argv))
    return namespace.handler.arguments(namespace)


def test_build_flags_become_typed_fields() -> None:
    argv = ("build", "--push", "--tag", "a", "--tag", "b", "--version", "1.2.3", "--bytecode")
    arguments = _typed(
        *argv, "no", "--sources", "yes", "--platform", "linux/amd64", "--report-dir", "out"
    )
    assert arguments == BuildArguments(
        overrides=ConfigOverrides(platforms="linux/amd64"),
        push=True,
        tags=("a", "b"),
        version="1.2.3",
        report_dir=Path("out"),
        bytecode=False,
        sources=True,
    )
    assert _typed("build") == BuildArguments()  # every default: no override, Dockerfile's bytecode


def test_only_given_overrides_reach_the_settings() -> None:
    arguments = _typed("publish", "--offline", "--registry", "127.0.0.1:5000")
    assert arguments.overrides.as_settings() == {"offline": True, "registry": "127.0.0.1:5000"}
    assert _typed("base-image").overrides.as_settings() == {}
    assert _typed("temporal-image", "--force") == TemporalImageArguments(force=True)


def test_versions_are_parsed_once_on_the_command_line() -> None:
    assert _typed("release", "minor", "--dry-run") == ReleaseArguments(Bump.MINOR, dry_run=True)
    release = _typed("release", "1.2.0-rc.1", "--registry", "r.test")
    assert release.request == semver.Version.parse("1.2.0-rc.1")
    assert release.overrides == ConfigOverrides(registry="r.test")
    assert _typed("resolve", "v1.2.0") == ResolveArguments(semver.Version.parse("1.2.0"))
    with pytest.raises(ReleaseError, match=r"Reading version '1\.2' failed because"):
        _typed("resolve", "1.2")


def test_machine_names_map_to_the_supported_platforms() -> None:
    assert platform_of_machine("x86_64") == platform_of_machine("AMD64") == LINUX_AMD64
    assert platform_of_machine("aarch64") == platform_of_machine("arm64") == LINUX_ARM64
    assert platform_of_machine("s390x") is None
