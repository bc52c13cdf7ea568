"""The one seam to the outside world.

Every call to docker (through python-on-whales), to a registry over HTTP, to git or to any
other subprocess lives here. The rest of `build_tools` receives a `Host` as an argument
and stays pure; unit tests pass a fake `Host` instead of patching internals.

This module is longer than the project's ~400-line guideline on purpose: keeping every
side effect in one file is what makes the seam checkable (one place to read, one Protocol
for `tests/unit/fakes.py` to mirror). Splitting it would spread side effects again.
Instead `RealHost` is grouped in sections, in this order: generic subprocess, docker
(engine check, builds, images, imagetools, push), the agent-runner container, detached
processes (`--no-docker`), registries over HTTP, git. (The smoke tests' container seam,
testcontainers and the Temporal API, is `containers.py` and `temporal_api.py`.)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Protocol

from build_tools.errors import (
    BuildError,
    DockerDaemonError,
    DockerMissingError,
    ExternalCommandError,
    GitError,
    RegistryError,
    RuntimeContainerError,
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
    # Always ask the registry for FROM images: with the containerd image store a stale local
    # copy of a moved tag (a re-seeded base) would otherwise win silently.
    pull: bool = True
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

    def imagetools_create(
        self, target: str, sources: Sequence[str], *, annotations: Mapping[str, str] | None = None
    ) -> None: ...

    def image_inspect(self, ref: str) -> dict[str, Any]: ...

    def image_configs(self, ref: str) -> dict[str, dict[str, Any]]: ...

    def registry_get(self, url: str, *, accept: Sequence[str] = ()) -> bytes: ...

    def registry_stream(self, url: str) -> Iterator[bytes]: ...

    def image_save_stream(self, ref: str) -> Iterator[bytes]: ...

    def import_rootfs(
        self, tar_path: Path, *, platform: str, ref: str, changes: Sequence[str]
    ) -> None: ...

    def push(self, ref: str) -> None: ...

    def environment(self) -> Mapping[str, str]: ...

    # The agent-runner container lifecycle (build_tools.runtime).
    def container_run(self, args: Sequence[str], *, env: Mapping[str, str]) -> str: ...

    def container_inspect(self, name_or_id: str) -> dict[str, Any] | None: ...

    def container_stop(self, name_or_id: str, *, timeout_seconds: int) -> None: ...

    def container_remove(self, name_or_id: str) -> None: ...

    def container_logs(self, name_or_id: str, options: Sequence[str]) -> Iterator[str]: ...

    def image_pull(self, ref: str) -> None: ...

    # Detached processes (build_tools.runtime --no-docker).
    def spawn_detached(
        self, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> int: ...

    def process_alive(self, pid: int) -> bool: ...

    def signal_process(self, pid: int, signum: int) -> None: ...

    # Releases: git, and what a registry already holds.
    def git(self, args: Sequence[str], *, cwd: Path) -> str: ...

    def manifest_digest(self, ref: str) -> str | None: ...

    def registry_tags(self, repository: str) -> tuple[str, ...]: ...


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
        # Processes started by spawn_detached, so their exit is observed (no zombies).
        self._children: dict[int, subprocess.Popen[bytes]] = {}

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

    def environment(self) -> Mapping[str, str]:
        """The environment this host was made with (read-only), e.g. for GITHUB_STEP_SUMMARY."""
        return MappingProxyType(self._environ)

    # -- docker: engine check, builds, images, imagetools, push ---------------------------

    def _docker(self) -> Any:
        # Imported here: python-on-whales reads the environment when clients are made,
        # and no module-level client may exist.
        from python_on_whales import DockerClient

        return DockerClient(client_call=[self.which("docker") or "docker"])

    def ensure_docker(self) -> None:
        require_docker(
            self,
            install_fix="Install Docker Engine with buildx "
            "(Debian hosts: bash .ci/provision-docker-host), then retry.",
            start_fix="Start dockerd (or Docker Desktop), or fix DOCKER_HOST, and retry.",
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

    def imagetools_create(
        self, target: str, sources: Sequence[str], *, annotations: Mapping[str, str] | None = None
    ) -> None:
        notes = [f"--annotation=index:{key}={value}" for key, value in (annotations or {}).items()]
        result = self.run(
            ["docker", "buildx", "imagetools", "create", *notes, "-t", target, *sources],
            check=False,
        )
        if result.returncode != 0:
            raise RegistryError(
                f"Writing tag {target}",
                f"imagetools create failed ({result.stderr.strip()[:200]})",
                "Check registry reachability and push rights, then retry.",
            )

    def manifest_digest(self, ref: str) -> str | None:
        """Digest of the manifest or index `ref` names in its registry; None if there is none."""
        argv = ["docker", "buildx", "imagetools", "inspect", ref, "--format", "{{json .Manifest}}"]
        result = self.run(argv, check=False)
        if result.returncode != 0:
            if result.stderr.strip().endswith("not found"):
                return None
            raise RegistryError(
                f"Resolving {ref}",
                f"the registry did not answer ({result.stderr.strip()[-200:]})",
                "Check registry reachability and your login (docker login), then retry.",
            )
        digest: str = json.loads(result.stdout)["digest"]
        return digest

    def image_configs(self, ref: str) -> dict[str, dict[str, Any]]:
        """Platform (os/arch) -> OCI image config of `ref` in its registry (no pull): labels
        under `config.Labels`. One entry for a single-platform manifest."""
        argv = ["docker", "buildx", "imagetools", "inspect", ref, "--format", "{{json .Image}}"]
        result = self.run(argv, check=False)
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

    def image_save_stream(self, ref: str) -> Iterator[bytes]:
        """`docker save REF` (an OCI layout tar with the engine's blobs), streamed in chunks."""
        process = subprocess.Popen(
            [self.which("docker") or "docker", "save", ref],
            env=self._environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            while chunk := process.stdout.read(1 << 20):
                yield chunk
            error = process.stderr.read().decode(errors="replace").strip()
            process.wait()
        finally:
            if process.returncode is None:
                process.kill()  # the reader stopped early; do not leave docker save behind
                process.wait()
            process.stdout.close()
            process.stderr.close()
        if process.returncode != 0:
            raise BuildError(
                f"`docker save {ref}`",
                f"it exited with {process.returncode}: {(error.splitlines() or ['no output'])[-1]}",
                "Build or pull the image first (nox -s build), then retry.",
            )

    def import_rootfs(
        self, tar_path: Path, *, platform: str, ref: str, changes: Sequence[str]
    ) -> None:
        """`docker import`: a root filesystem tar becomes a one-layer image for `platform`."""
        argv = ["docker", "import", "--platform", platform]
        for change in changes:
            argv += ["--change", change]
        result = self.run([*argv, str(tar_path), ref], check=False)
        if result.returncode != 0:
            raise BuildError(
                f"`docker import` of {tar_path} as {ref}",
                f"it exited with {result.returncode}: {result.stderr.strip()[-200:]}",
                "Check the tar and the --change lines, then retry.",
            )

    def push(self, ref: str) -> None:
        result = self.run(["docker", "push", "--quiet", ref], check=False)
        if result.returncode != 0:
            raise RegistryError(
                f"Pushing {ref}",
                f"docker push exited with {result.returncode}: {result.stderr.strip()[-200:]}",
                "Check that the registry is up (bash .ci/provision-docker-host) and retry.",
            )

    # -- the agent-runner container (build_tools.runtime) ------------------------------------

    def _container_error(self, what: str, result: CommandResult, fix: str) -> RuntimeContainerError:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        because = f"docker exited with {result.returncode}: {last[0]}"
        return RuntimeContainerError(what, because, fix)

    def container_run(self, args: Sequence[str], *, env: Mapping[str, str]) -> str:
        """`docker run ARGS`; `env` reaches only the docker client (secrets passed by name)."""
        result = self.run(["docker", "run", *args], env=env, check=False)
        if result.returncode != 0:
            raise self._container_error(
                "Starting the agent-runner container", result, "Fix the cause above and retry."
            )
        return result.stdout.strip().splitlines()[-1]

    def container_inspect(self, name_or_id: str) -> dict[str, Any] | None:
        """`docker container inspect`, or None when no such container exists."""
        result = self.run(["docker", "container", "inspect", name_or_id], check=False)
        if result.returncode != 0:
            if "no such" in result.stderr.lower():
                return None
            raise self._container_error(
                f"Inspecting container {name_or_id}", result, "Check the Docker engine and retry."
            )
        parsed: list[dict[str, Any]] = json.loads(result.stdout)
        return parsed[0] if parsed else None

    def container_stop(self, name_or_id: str, *, timeout_seconds: int) -> None:
        argv = ["docker", "container", "stop", "--time", str(timeout_seconds), name_or_id]
        result = self.run(argv, check=False)
        if result.returncode != 0 and "no such" not in result.stderr.lower():
            raise self._container_error(
                f"Stopping container {name_or_id}", result, "Check the Docker engine and retry."
            )

    def container_remove(self, name_or_id: str) -> None:
        result = self.run(["docker", "container", "rm", "--force", name_or_id], check=False)
        if result.returncode != 0 and "no such" not in result.stderr.lower():
            raise self._container_error(
                f"Removing container {name_or_id}", result, "Remove it with `docker rm -f`."
            )

    def container_logs(self, name_or_id: str, options: Sequence[str]) -> Iterator[str]:
        """`docker logs OPTIONS NAME` line by line (both streams), as they arrive."""
        process = subprocess.Popen(
            [self.which("docker") or "docker", "logs", *options, name_or_id],
            env=self._environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        try:
            yield from process.stdout
        finally:
            if process.poll() is None:
                process.kill()  # the reader stopped early (e.g. Ctrl-C on --follow)
            process.wait()
            process.stdout.close()

    def image_pull(self, ref: str) -> None:
        result = self.run(["docker", "pull", "--quiet", ref], check=False)
        if result.returncode != 0:
            raise self._container_error(
                f"Pulling {ref}",
                result,
                "Check the version and registry access, or build it locally (nox -s build).",
            )

    # -- detached processes (build_tools.runtime --no-docker) --------------------------------

    def spawn_detached(
        self, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> int:
        """Start a process in its own session, output appended to `log_path`; return its PID."""
        with log_path.open("ab") as log:
            try:
                process = subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:  # not found, not executable: no process was started
                raise RuntimeContainerError(
                    f"Starting {argv[0]}",
                    f"it could not be executed ({exc.strerror})",
                    "Pass an existing interpreter that has agent-runner installed (--python).",
                ) from exc
        self._children[process.pid] = process
        return process.pid

    def process_alive(self, pid: int) -> bool:
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None  # reaps our own exited child instead of a zombie
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        except OSError:
            return True
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"

    def signal_process(self, pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone is what we wanted
            os.kill(pid, signum)

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

    def registry_tags(self, repository: str) -> tuple[str, ...]:
        """Every tag of `registry/name` (empty if the name is unknown), following pagination.

        Loopback registries speak plain HTTP; others get HTTPS and an anonymous bearer token
        when they ask for one (the Docker registry token flow).
        """
        registry, _, name = repository.partition("/")
        loopback = registry.split(":")[0] in {"localhost", "127.0.0.1", "[::1]"}
        base = f"{'http' if loopback else 'https'}://{registry}"
        url: str | None = f"{base}/v2/{name}/tags/list?n=1000"
        headers: dict[str, str] = {}
        tags: list[str] = []
        while url is not None:
            try:
                request = urllib.request.Request(url, headers=headers)  # noqa: S310 (built above)
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    tags += json.loads(response.read()).get("tags") or []
                    link = response.headers.get("Link", "")
            except urllib.error.HTTPError as exc:
                challenge = exc.headers.get("WWW-Authenticate", "")
                if exc.code == 401 and challenge.startswith("Bearer ") and not headers:
                    headers = {"Authorization": f"Bearer {self._anonymous_token(challenge)}"}
                    continue
                if exc.code == 404:
                    return ()
                raise RegistryError(
                    f"Listing tags of {repository}",
                    f"the registry answered HTTP {exc.code}",
                    "Check the repository name and that it allows anonymous pulls.",
                ) from exc
            except urllib.error.URLError as exc:
                raise RegistryError(
                    f"Listing tags of {repository}",
                    f"the registry is unreachable ({exc.reason})",
                    "Start the registry or fix its address (--registry), then retry.",
                ) from exc
            url = base + link.split(";")[0].strip("<> ") if link else None
        return tuple(tags)

    def _anonymous_token(self, challenge: str) -> str:
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        query = urllib.parse.urlencode({k: v for k, v in fields.items() if k != "realm"})
        realm = fields.get("realm", "")
        what = "Getting an anonymous registry token"
        if not realm.startswith("https://"):
            raise RegistryError(
                what, f"the token service {realm!r} is not https", "Use an https registry."
            )
        try:
            with urllib.request.urlopen(f"{realm}?{query}", timeout=60) as response:  # noqa: S310
                body = json.loads(response.read())
        except urllib.error.URLError as exc:  # HTTPError included
            raise RegistryError(
                what,
                f"the token service did not answer ({exc})",
                "Check the registry's reachability and that it allows anonymous pulls.",
            ) from exc
        token: str = body.get("token") or body.get("access_token") or ""
        return token

    # -- git ----------------------------------------------------------------------------------

    def git(self, args: Sequence[str], *, cwd: Path) -> str:
        result = self.run(["git", *args], cwd=cwd, check=False)
        if result.returncode != 0:
            # git's own words, every line (stdout when git wrote there, as `commit` does).
            said = (result.stderr.strip() or result.stdout.strip()).splitlines()
            detail = " | ".join(line.strip() for line in said if line.strip())
            # The command up to its message: -m carries multi-line release notes.
            shown = list(itertools.takewhile(lambda arg: arg not in ("-m", "--message"), args))
            raise GitError(
                f"`git {' '.join(shown[:4])}`",
                f"git exited with {result.returncode}: {detail or 'no output'}",
                "Fix the repository state and retry.",
            )
        return result.stdout


def require_docker(host: Host, *, install_fix: str, start_fix: str) -> None:
    """The one Docker detection: binary missing -> exit 3, engine not answering -> exit 4.

    Callers choose the advice (maintainers get the provisioning script, the local lifecycle
    per-OS steps); what counts as missing or down is decided only here.
    """
    if host.which("docker") is None:
        raise DockerMissingError("Finding Docker", "the docker command is not on PATH", install_fix)
    probe = host.run(["docker", "version", "--format", "{{.Server.Version}}"], check=False)
    if probe.returncode != 0 or not probe.stdout.strip():
        detail = (probe.stderr.strip().splitlines() or ["no answer"])[-1][:200]
        raise DockerDaemonError(
            "Contacting the Docker engine",
            f"it is not running or not reachable ({detail})",
            start_fix,
        )


def stderr_log() -> IO[str]:
    """Where build progress streams; a function so nothing binds sys.stderr at import."""
    return sys.stderr
