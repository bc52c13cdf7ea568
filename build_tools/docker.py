"""The docker part of the seam: every docker command line of the toolchain.

Builds go through python-on-whales; everything else is a `docker` argv run through the
process part. Nothing outside this module spells a docker command (a unit test checks).
"Absent" is a value: an image, manifest or container that does not exist comes back as
None. Failures raise by what failed, whichever method ran the command: the engine
(missing 3, down 4), a build or import (6), a registry read, push or pull (8), a
container (11). Unit tests pass `tests/unit/fakes.FakeDocker`.

Over 400 lines on purpose: it is the one list of the toolchain's docker command lines, and
splitting it would scatter what the seam test keeps in one place.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from build_tools.errors import (
    BuildError,
    BuildToolsError,
    DockerDaemonError,
    DockerMissingError,
    RegistryError,
    RuntimeContainerError,
)
from build_tools.process import CommandResult, Process

INSTALL_FIX = (
    "Install Docker Engine with buildx (Debian hosts: bash .ci/provision-docker-host), then retry."
)
START_FIX = "Start dockerd (or Docker Desktop), or fix DOCKER_HOST, and retry."
# A registry's 5xx during a push: seen from Debian's registry 2.8 answering a HEAD of a tag
# that the engine's concurrent per-platform pushes were writing ("invalid checksum digest
# format"). The build is finished and cached by then, so one more attempt costs the push.
_TRANSIENT_PUSH = re.compile(r"unexpected status from [A-Z]+ request to \S+: 5\d\d\b")
PUSH_ATTEMPTS = 2


def transient_push_failure(output: str) -> bool:
    """Whether a failed build's output says the registry failed the push with a 5xx."""
    return _TRANSIENT_PUSH.search(output) is not None


@dataclass(frozen=True)
class BuildxRequest:
    """Exactly what `docker buildx build` is asked to do; made by `build_tools.image.plan`."""

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
    # Always ask the registry for FROM images: with the containerd image store a stale local
    # copy of a moved tag (a re-seeded base) would otherwise win silently.
    pull: bool = True
    target: str | None = None
    # OCI attestations stay off unless asked for: they show up as unknown/unknown
    # platform entries that confuse `docker pull` users and our own index checks.
    provenance: bool = False
    sbom: bool = False
    metadata_file: Path | None = None


def docker_run_command(args: Sequence[str]) -> str:
    """`docker run ARGS` as a shell line, for people to read or paste."""
    return shlex.join(["docker", "run", *args])


class Docker(Protocol):
    """The Docker engine and what it reaches: builds, images, registries, containers."""

    def ensure(self, *, install_fix: str = INSTALL_FIX, start_fix: str = START_FIX) -> None: ...

    def engine_platform(self) -> str: ...

    def buildx_build(self, request: BuildxRequest, *, log: IO[str]) -> None: ...

    def imagetools_inspect_raw(self, ref: str) -> dict[str, Any] | None: ...

    def imagetools_create(
        self, target: str, sources: Sequence[str], *, annotations: Mapping[str, str] | None = None
    ) -> None: ...

    def manifest_digest(self, ref: str) -> str | None: ...

    def image_configs(self, ref: str) -> dict[str, dict[str, Any]]: ...

    def image_inspect(self, ref: str) -> dict[str, Any] | None: ...

    def image_save_stream(self, ref: str) -> Iterator[bytes]: ...

    def import_rootfs(
        self, tar_path: Path, *, platform: str, ref: str, changes: Sequence[str]
    ) -> None: ...

    def push(self, ref: str) -> None: ...

    def image_pull(self, ref: str, *, platform: str | None = None) -> None: ...

    def image_tag(self, source: str, target: str) -> None: ...

    def image_remove(self, ref: str) -> None: ...

    def container_run(self, args: Sequence[str], *, env: Mapping[str, str]) -> str: ...

    def container_inspect(self, name_or_id: str) -> dict[str, Any] | None: ...

    def container_exec(self, name_or_id: str, argv: Sequence[str]) -> CommandResult: ...

    def container_stats(self, name_or_id: str) -> dict[str, Any]: ...

    def container_stop(self, name_or_id: str, *, timeout_seconds: int) -> None: ...

    def container_remove(self, name_or_id: str) -> None: ...

    def container_logs(self, name_or_id: str, options: Sequence[str]) -> Iterator[str]: ...


def _not_found(result: CommandResult) -> bool:
    said = result.stderr.strip().lower()
    return said.endswith("not found") or "no such" in said or "manifest unknown" in said


class RealDocker:
    """The docker CLI (python-on-whales for builds), through a `Process`."""

    def __init__(self, process: Process) -> None:
        self._process = process

    def _run(self, *args: str, env: Mapping[str, str] | None = None) -> CommandResult:
        return self._process.run(["docker", *args], env=env, check=False)

    def _read_json(
        self, args: Sequence[str], failure: Callable[[CommandResult], BuildToolsError]
    ) -> Any:
        """`docker ARGS` stdout as JSON; None when docker says there is no such object."""
        result = self._run(*args)
        if result.returncode == 0:
            return json.loads(result.stdout)
        if _not_found(result):
            return None
        raise failure(result)

    # -- the engine ---------------------------------------------------------------------------

    def ensure(self, *, install_fix: str = INSTALL_FIX, start_fix: str = START_FIX) -> None:
        """The one Docker detection: binary missing -> exit 3, engine not answering -> exit 4.

        Callers choose the advice (maintainers get the provisioning script, the local
        lifecycle per-OS steps); what counts as missing or down is decided only here.
        """
        if self._process.which("docker") is None:
            raise DockerMissingError(
                "Finding Docker", "the docker command is not on PATH", install_fix
            )
        probe = self._run("version", "--format", "{{.Server.Version}}")
        if probe.returncode != 0 or not probe.stdout.strip():
            detail = (probe.stderr.strip().splitlines() or ["no answer"])[-1][:200]
            raise DockerDaemonError(
                "Contacting the Docker engine",
                f"it is not running or not reachable ({detail})",
                start_fix,
            )

    def engine_platform(self) -> str:
        """The engine's own os/arch (its images run natively), e.g. linux/amd64."""
        result = self._run("version", "--format", "{{.Server.Os}}/{{.Server.Arch}}")
        if result.returncode != 0 or "/" not in result.stdout:
            raise DockerDaemonError(
                "Asking the Docker engine for its platform",
                f"it did not answer ({result.last_line()})",
                START_FIX,
            )
        return result.stdout.strip()

    # -- builds and images ----------------------------------------------------------------------

    def buildx_build(self, request: BuildxRequest, *, log: IO[str]) -> None:
        # Imported here: python-on-whales reads the environment when clients are made,
        # and no module-level client may exist.
        from python_on_whales import DockerClient, DockerException

        docker: Any = DockerClient(client_call=[self._process.which("docker") or "docker"])
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                self._buildx_build_once(docker, request, log)
            except DockerException as exc:
                output = (exc.stderr or exc.stdout or "").strip()
                if request.push and attempt < PUSH_ATTEMPTS and transient_push_failure(output):
                    log.write(
                        "buildx: the registry answered 5xx during the push; pushing again "
                        f"(attempt {attempt + 1} of {PUSH_ATTEMPTS})\n"
                    )
                    continue
                tail = output.splitlines()[-3:]
                raise BuildError(
                    "docker buildx build",
                    f"it exited with {exc.return_code}: {' | '.join(tail) or 'no output'}",
                    "Read the build log above, fix the Dockerfile or inputs and retry.",
                ) from exc
            else:
                return

    @staticmethod
    def _buildx_build_once(docker: Any, request: BuildxRequest, log: IO[str]) -> None:
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
            pull=request.pull,
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

    def image_inspect(self, ref: str) -> dict[str, Any] | None:
        """The engine's record of a local image; None when it does not have it."""
        parsed: list[dict[str, Any]] | None = self._read_json(
            ("image", "inspect", ref),
            lambda result: DockerDaemonError(
                f"Inspecting local image {ref}",
                f"the engine failed ({result.last_line()})",
                START_FIX,
            ),
        )
        return parsed[0] if parsed else None

    def image_save_stream(self, ref: str) -> Iterator[bytes]:
        """`docker save REF` (an OCI layout tar with the engine's blobs), streamed in chunks."""
        return self._process.stream_bytes(
            ["docker", "save", ref],
            error=BuildError,
            fix="Build or pull the image first (nox -s build), then retry.",
        )

    def import_rootfs(
        self, tar_path: Path, *, platform: str, ref: str, changes: Sequence[str]
    ) -> None:
        """`docker import`: a root filesystem tar becomes a one-layer image for `platform`."""
        argv = ["import", "--platform", platform]
        for change in changes:
            argv += ["--change", change]
        result = self._run(*argv, str(tar_path), ref)
        if result.returncode != 0:
            raise BuildError(
                f"`docker import` of {tar_path} as {ref}",
                f"it exited with {result.returncode}: {result.stderr.strip()[-200:]}",
                "Check the tar and the --change lines, then retry.",
            )

    # -- registries (with docker's credentials) ---------------------------------------------

    def imagetools_inspect_raw(self, ref: str) -> dict[str, Any] | None:
        """The raw index or manifest `ref` names in its registry; None when there is none."""
        parsed: dict[str, Any] | None = self._read_json(
            ("buildx", "imagetools", "inspect", "--raw", ref),
            lambda result: RegistryError(
                f"Inspecting {ref}",
                f"the registry did not serve it ({result.stderr.strip()[:200]})",
                "Check the reference, registry reachability and your login, then retry.",
            ),
        )
        return parsed

    def imagetools_create(
        self, target: str, sources: Sequence[str], *, annotations: Mapping[str, str] | None = None
    ) -> None:
        notes = [f"--annotation=index:{key}={value}" for key, value in (annotations or {}).items()]
        result = self._run("buildx", "imagetools", "create", *notes, "-t", target, *sources)
        if result.returncode != 0:
            raise RegistryError(
                f"Writing tag {target}",
                f"imagetools create failed ({result.stderr.strip()[:200]})",
                "Check registry reachability and push rights, then retry.",
            )

    def manifest_digest(self, ref: str) -> str | None:
        """Digest of the manifest or index `ref` names in its registry; None if there is none."""
        manifest: dict[str, Any] | None = self._read_json(
            ("buildx", "imagetools", "inspect", ref, "--format", "{{json .Manifest}}"),
            lambda result: RegistryError(
                f"Resolving {ref}",
                f"the registry did not answer ({result.stderr.strip()[-200:]})",
                "Check registry reachability and your login (docker login), then retry.",
            ),
        )
        return None if manifest is None else str(manifest["digest"])

    def image_configs(self, ref: str) -> dict[str, dict[str, Any]]:
        """Platform (os/arch) -> OCI image config of `ref` in its registry (no pull): labels
        under `config.Labels`. One entry for a single-platform manifest."""
        result = self._run("buildx", "imagetools", "inspect", ref, "--format", "{{json .Image}}")
        if result.returncode != 0:
            raise RegistryError(
                f"Reading the image configs of {ref}",
                f"the registry did not serve them ({result.stderr.strip()[-200:]})",
                "Check the reference, registry reachability and your login, then retry.",
            )
        parsed: dict[str, Any] = json.loads(result.stdout)
        if "architecture" in parsed:  # a single manifest: the config itself
            return {f"{parsed.get('os')}/{parsed.get('architecture')}": parsed}
        return {platform: dict(config) for platform, config in parsed.items()}

    def push(self, ref: str) -> None:
        result = self._run("push", "--quiet", ref)
        if result.returncode != 0:
            raise RegistryError(
                f"Pushing {ref}",
                f"docker push exited with {result.returncode}: {result.stderr.strip()[-200:]}",
                "Check that the registry is up (bash .ci/provision-docker-host) and retry.",
            )

    def image_pull(self, ref: str, *, platform: str | None = None) -> None:
        result = self._run("pull", "--quiet", *(("--platform", platform) if platform else ()), ref)
        if result.returncode != 0:
            raise RegistryError(
                f"Pulling {ref}",
                f"docker pull exited with {result.returncode}: {result.last_line()}",
                "Check the version and registry access, or build it locally (nox -s build).",
            )

    def image_tag(self, source: str, target: str) -> None:
        result = self._run("image", "tag", source, target)
        if result.returncode != 0:
            raise BuildError(
                f"Tagging {source} as {target}",
                f"docker exited with {result.returncode}: {result.last_line()}",
                "Check that the image is in the local engine (pull it) and retry.",
            )

    def image_remove(self, ref: str) -> None:
        """`docker image rm REF` (the tag only, if others name the image); absent is fine."""
        result = self._run("image", "rm", ref)
        if result.returncode != 0 and not _not_found(result):
            raise DockerDaemonError(
                f"Removing local image {ref}",
                f"docker exited with {result.returncode}: {result.last_line()}",
                f"Remove it by hand (docker image rm {ref}).",
            )

    # -- containers -----------------------------------------------------------------------------

    def _container_error(self, what: str, result: CommandResult, fix: str) -> RuntimeContainerError:
        return RuntimeContainerError(
            what, f"docker exited with {result.returncode}: {result.last_line()}", fix
        )

    def container_run(self, args: Sequence[str], *, env: Mapping[str, str]) -> str:
        """`docker run ARGS` -> the last line it printed (the id when detached); `env` reaches
        only the docker client (secrets passed by name)."""
        result = self._run("run", *args, env=env)
        if result.returncode != 0:
            raise self._container_error(
                "Starting the agent-runner container", result, "Fix the cause above and retry."
            )
        lines = result.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    def container_inspect(self, name_or_id: str) -> dict[str, Any] | None:
        """`docker container inspect`, or None when no such container exists."""
        parsed: list[dict[str, Any]] | None = self._read_json(
            ("container", "inspect", name_or_id),
            lambda result: self._container_error(
                f"Inspecting container {name_or_id}", result, "Check the Docker engine and retry."
            ),
        )
        return parsed[0] if parsed else None

    def container_exec(self, name_or_id: str, argv: Sequence[str]) -> CommandResult:
        """`docker exec NAME ARGV`, its result as it is (callers read the exit code)."""
        return self._run("exec", name_or_id, *argv)

    def container_stats(self, name_or_id: str) -> dict[str, Any]:
        """One `docker stats` sample of a running container (MemUsage, CPUPerc, ...)."""
        result = self._run("stats", "--no-stream", "--format", "{{json .}}", name_or_id)
        if result.returncode != 0:
            raise self._container_error(
                f"Sampling container {name_or_id}", result, "Check that it is running and retry."
            )
        parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return parsed

    def container_stop(self, name_or_id: str, *, timeout_seconds: int) -> None:
        result = self._run("container", "stop", "--time", str(timeout_seconds), name_or_id)
        if result.returncode != 0 and not _not_found(result):
            raise self._container_error(
                f"Stopping container {name_or_id}", result, "Check the Docker engine and retry."
            )

    def container_remove(self, name_or_id: str) -> None:
        result = self._run("container", "rm", "--force", name_or_id)
        if result.returncode != 0 and not _not_found(result):
            raise self._container_error(
                f"Removing container {name_or_id}", result, "Remove it with `docker rm -f`."
            )

    def container_logs(self, name_or_id: str, options: Sequence[str]) -> Iterator[str]:
        """`docker logs OPTIONS NAME` line by line (both streams), as they arrive."""
        return self._process.stream_lines(["docker", "logs", *options, name_or_id])


def require_local_image(docker: Docker, ref: str) -> dict[str, Any]:
    """The engine's record of `ref`; an image that must already be there and is not is a
    BuildError (exit 6) saying to build or pull it."""
    image = docker.image_inspect(ref)
    if image is None:
        raise BuildError(
            f"Finding local image {ref}",
            "the engine does not have it",
            "Build it first (nox -s build) or pull it.",
        )
    return image


def stderr_log() -> IO[str]:
    """Where build progress streams; a function so nothing binds sys.stderr at import."""
    return sys.stderr
