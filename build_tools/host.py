"""The one seam to the outside world.

Every call to docker (through python-on-whales), to a registry over HTTP, to git or to any
other subprocess lives here. The rest of `build_tools` receives a `Host` as an argument
and stays pure; unit tests pass a fake `Host` instead of patching internals.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from build_tools.errors import (
    BuildError,
    DockerDaemonError,
    DockerMissingError,
    ExternalCommandError,
    GitError,
    RegistryError,
)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class BuildxRequest:
    """Exactly what `docker buildx build` is asked to do; made by `build_tools.plan`."""

    context: Path
    dockerfile: Path
    platforms: tuple[str, ...]
    tags: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)
    push: bool = False
    load: bool = False
    builder: str | None = None
    no_cache: bool = False
    target: str | None = None
    # OCI attestations stay off unless asked for: they show up as unknown/unknown
    # platform entries that confuse `docker pull` users and our own index checks.
    provenance: bool = False
    sbom: bool = False
    metadata_file: Path | None = None


class Host(Protocol):
    """What the toolchain needs from the machine. `RealHost` is the only real one."""

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        stream: bool = False,
    ) -> CommandResult: ...

    def which(self, program: str) -> str | None: ...

    def ensure_docker(self) -> None: ...

    def buildx_build(self, request: BuildxRequest, *, log: IO[str]) -> None: ...

    def imagetools_inspect_raw(self, ref: str) -> dict[str, Any]: ...

    def imagetools_create(self, target: str, sources: Sequence[str]) -> None: ...

    def image_inspect(self, ref: str) -> dict[str, Any]: ...

    def registry_get(self, url: str, *, accept: Sequence[str] = ()) -> bytes: ...

    def registry_stream(self, url: str) -> Iterator[bytes]: ...

    def git(self, args: Sequence[str], *, cwd: Path) -> str: ...


# Manifest media types we ask registries for, newest first.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


class RealHost:
    """The real machine: subprocesses, the docker CLI via python-on-whales, HTTP."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        # The environment is passed in (never read at import time) so that callers and
        # tests decide what docker and git see.
        self._environ = dict(environ)

    # -- generic subprocess -------------------------------------------------------------

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self._environ.get("PATH"))

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        stream: bool = False,
    ) -> CommandResult:
        merged = {**self._environ, **(env or {})}
        if self.which(argv[0]) is None and not Path(argv[0]).is_file():
            raise ExternalCommandError(
                f"Running {argv[0]}",
                f"{argv[0]} is not installed or not on PATH",
                "Install it (on Debian hosts: bash .ci/provision-docker-host) and retry.",
            )
        completed = subprocess.run(
            list(argv),
            cwd=cwd,
            env=merged,
            check=False,
            text=True,
            stdout=None if stream else subprocess.PIPE,
            stderr=None if stream else subprocess.PIPE,
        )
        result = CommandResult(
            tuple(argv), completed.returncode, completed.stdout or "", completed.stderr or ""
        )
        if check and result.returncode != 0:
            last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
            raise ExternalCommandError(
                f"`{' '.join(argv[:3])}`",
                f"it exited with {result.returncode}: {last[0]}",
                "Read the output above, fix the cause and retry.",
            )
        return result

    # -- docker ---------------------------------------------------------------------------

    def _docker(self) -> Any:
        # Imported here: python-on-whales reads the environment when clients are made,
        # and no module-level client may exist.
        from python_on_whales import DockerClient

        return DockerClient(client_call=[self.which("docker") or "docker"])

    def ensure_docker(self) -> None:
        if self.which("docker") is None:
            raise DockerMissingError(
                "Finding Docker",
                "the docker command is not on PATH",
                "Install Docker Engine with buildx (Debian hosts: bash .ci/provision-docker-host).",
            )
        probe = self.run(["docker", "version", "--format", "{{.Server.Version}}"], check=False)
        if probe.returncode != 0:
            raise DockerDaemonError(
                "Contacting the Docker engine",
                f"it did not answer ({probe.stderr.strip().splitlines()[-1:] or ['no output']})",
                "Start dockerd (or Docker Desktop), or fix DOCKER_HOST, and retry.",
            )

    def buildx_build(self, request: BuildxRequest, *, log: IO[str]) -> None:
        from python_on_whales import DockerException

        docker = self._docker()
        try:
            lines = docker.buildx.build(
                context_path=request.context,
                file=request.dockerfile,
                platforms=list(request.platforms),
                tags=list(request.tags),
                labels=dict(request.labels),
                build_args=dict(request.build_args),
                push=request.push,
                load=request.load,
                builder=request.builder,
                cache=not request.no_cache,
                target=request.target,
                provenance=request.provenance,
                sbom=request.sbom,
                progress="plain",
                stream_logs=True,
                metadata_file=request.metadata_file,
            )
            for line in lines:
                log.write(line if line.endswith("\n") else line + "\n")
                log.flush()
        except DockerException as exc:
            tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
            raise BuildError(
                "docker buildx build",
                f"it exited with {exc.return_code}: {' | '.join(tail) or 'no output'}",
                "Read the build log above, fix the Dockerfile or inputs and retry.",
            ) from exc

    def imagetools_inspect_raw(self, ref: str) -> dict[str, Any]:
        result = self.run(["docker", "buildx", "imagetools", "inspect", "--raw", ref], check=False)
        if result.returncode != 0:
            raise RegistryError(
                f"Inspecting {ref}",
                f"the registry did not serve it ({result.stderr.strip()[:200]})",
                "Check the reference, that it was pushed, and your registry login.",
            )
        parsed: dict[str, Any] = json.loads(result.stdout)
        return parsed

    def imagetools_create(self, target: str, sources: Sequence[str]) -> None:
        result = self.run(
            ["docker", "buildx", "imagetools", "create", "-t", target, *sources], check=False
        )
        if result.returncode != 0:
            raise RegistryError(
                f"Writing tag {target}",
                f"imagetools create failed ({result.stderr.strip()[:200]})",
                "Check registry reachability and push rights, then retry.",
            )

    def image_inspect(self, ref: str) -> dict[str, Any]:
        result = self.run(["docker", "image", "inspect", ref], check=False)
        if result.returncode != 0:
            raise BuildError(
                f"Inspecting local image {ref}",
                "the engine does not have it",
                "Build it first (nox -s build) or pull it.",
            )
        parsed: list[dict[str, Any]] = json.loads(result.stdout)
        return parsed[0]

    # -- registries over HTTP ----------------------------------------------------------------

    def _open(self, url: str, accept: Sequence[str]) -> Any:
        if not url.startswith(("http://", "https://")):
            raise RegistryError(f"GET {url}", "only http(s) URLs are registries", "Fix the URL.")
        headers = {"Accept": ", ".join(accept)} if accept else {}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked)
        try:
            return urllib.request.urlopen(request, timeout=60)  # noqa: S310 (scheme checked)
        except urllib.error.HTTPError as exc:
            raise RegistryError(
                f"GET {url}",
                f"the registry answered HTTP {exc.code}",
                "Check the reference and that it was pushed.",
            ) from exc
        except urllib.error.URLError as exc:
            raise RegistryError(
                f"GET {url}",
                f"the registry is unreachable ({exc.reason})",
                "Start the registry or fix its address.",
            ) from exc

    def registry_get(self, url: str, *, accept: Sequence[str] = ()) -> bytes:
        with self._open(url, accept) as response:
            body: bytes = response.read()
            return body

    def registry_stream(self, url: str) -> Iterator[bytes]:
        with self._open(url, ()) as response:
            while chunk := response.read(1 << 20):
                yield chunk

    # -- git ----------------------------------------------------------------------------------

    def git(self, args: Sequence[str], *, cwd: Path) -> str:
        result = self.run(["git", *args], cwd=cwd, check=False)
        if result.returncode != 0:
            raise GitError(
                f"`git {' '.join(args)}`",
                result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "it failed",
                "Fix the repository state and retry.",
            )
        return result.stdout


def stderr_log() -> IO[str]:
    """Where build progress streams; a function so nothing binds sys.stderr at import."""
    return sys.stderr
