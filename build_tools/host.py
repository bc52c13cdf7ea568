"""The seam to the outside world, as one facade over its narrow parts.

Each part has its own small protocol, real implementation and fake (tests/unit/fakes.py):
`process` (subprocesses; build_tools/process.py), `docker` (every docker command line;
build_tools/docker.py), `registry` (the distribution API over HTTP; build_tools/registry.py)
and `git` (build_tools/git.py). A caller that needs one part takes that part; one that needs
several takes a `Host`. (The smoke tests' containers and Temporal API are build_tools/testbed.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from build_tools.docker import Docker, RealDocker
from build_tools.git import Git, RealGit
from build_tools.process import Process, RealProcess
from build_tools.registry import RealRegistry, Registry


class Host(Protocol):
    """What the toolchain needs from the machine, by concern."""

    @property
    def process(self) -> Process: ...

    @property
    def docker(self) -> Docker: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def git(self) -> Git: ...


@dataclass(frozen=True)
class Parts:
    """A `Host` assembled from given parts (tests swap one part for an instrumented one)."""

    process: Process
    docker: Docker
    registry: Registry
    git: Git


def real_host(environ: Mapping[str, str]) -> Parts:
    """The real machine; `environ` is what docker, git and every subprocess see."""
    process = RealProcess(environ)
    return Parts(
        process=process, docker=RealDocker(process), registry=RealRegistry(), git=RealGit(process)
    )
