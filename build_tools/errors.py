"""Every failure the toolchain reports, and the exit code each one maps to.

Messages follow one form: "<what> failed because <why>. <what to do>." The two
command-line entry points (`build_tools/cli.py`, `build_tools/runtime/cli.py`) each catch
`BuildToolsError` in one place and exit with its `exit_code`; nothing else in the package
calls `sys.exit`. The README lists the codes (a unit test keeps it in step).
"""

from __future__ import annotations

from typing import ClassVar


class BuildToolsError(Exception):
    """Base class: a failure with a user-facing sentence and a distinct exit code."""

    exit_code: ClassVar[int] = 1

    def __init__(self, what: str, because: str, fix: str) -> None:
        self.what = what
        self.because = because
        self.fix = fix
        super().__init__(f"{what} failed because {because}. {fix}")


class ConfigError(BuildToolsError):
    """A setting (pyproject, environment or command line) is invalid."""

    exit_code = 2


class DockerMissingError(BuildToolsError):
    """The docker binary (or its buildx plugin) is not installed."""

    exit_code = 3


class DockerDaemonError(BuildToolsError):
    """The docker binary exists but the engine does not answer."""

    exit_code = 4


class WheelhouseError(BuildToolsError):
    """A locked dependency has no wheel for a target platform, or a hash mismatched."""

    exit_code = 5


class BuildError(BuildToolsError):
    """docker buildx (or an offline base image step) failed."""

    exit_code = 6


class BudgetExceededError(BuildToolsError):
    """A measured figure (size, cold start, memory) is over its budget."""

    exit_code = 7


class RegistryError(BuildToolsError):
    """A registry refused or could not serve a manifest, blob or tag."""

    exit_code = 8


class GitError(BuildToolsError):
    """A git command failed or the repository is in the wrong state."""

    exit_code = 9


class ReleaseError(BuildToolsError):
    """A release precondition does not hold (version, tag, changelog)."""

    exit_code = 10


class RuntimeContainerError(BuildToolsError):
    """Starting, stopping or inspecting the agent-runner container failed."""

    exit_code = 11


class ExternalCommandError(BuildToolsError):
    """A tool outside Docker and git (pip, debootstrap, mmdebstrap) failed."""

    exit_code = 12


class ImageGateError(BuildToolsError):
    """The pushed image failed its structure test or its layer-efficiency gate."""

    exit_code = 13


class SignatureError(BuildToolsError):
    """An image's signature or attestation does not verify against the release workflow."""

    exit_code = 14


class VerifierMissingError(BuildToolsError):
    """Neither cosign nor gh (the GitHub CLI) is installed to verify an image."""

    exit_code = 15


def exit_code_table() -> dict[str, int]:
    """Error class name -> exit code; documented in the README and checked for uniqueness."""
    classes: list[type[BuildToolsError]] = [BuildToolsError]
    seen: dict[str, int] = {}
    while classes:
        cls = classes.pop()
        seen[cls.__name__] = cls.exit_code
        classes.extend(cls.__subclasses__())
    return dict(sorted(seen.items(), key=lambda item: item[1]))
