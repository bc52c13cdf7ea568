"""The platforms the image supports, with each architecture's name in every vocabulary.

One table; config, the wheelhouse, the offline base, the benchmark and the Temporal image
derive their platform lists and architecture names from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    """One supported platform, as Docker, Debian and the kernel (uname -m) name it."""

    name: str  # Docker's platform, e.g. linux/amd64
    docker_arch: str  # Docker's TARGETARCH
    debian_arch: str  # dpkg's architecture (mmdebstrap --arch)
    machine: str  # uname -m, as manylinux wheel tags spell it


LINUX_AMD64 = Platform("linux/amd64", docker_arch="amd64", debian_arch="amd64", machine="x86_64")
LINUX_ARM64 = Platform("linux/arm64", docker_arch="arm64", debian_arch="arm64", machine="aarch64")
PLATFORMS: dict[str, Platform] = {p.name: p for p in (LINUX_AMD64, LINUX_ARM64)}
SUPPORTED_PLATFORMS: tuple[str, ...] = tuple(PLATFORMS)


def platform_of_machine(machine: str) -> Platform | None:
    """The platform of a machine name, in the kernel's (x86_64) or Docker's (amd64) spelling."""
    machine = machine.lower()
    return next((p for p in PLATFORMS.values() if machine in {p.machine, p.docker_arch}), None)
