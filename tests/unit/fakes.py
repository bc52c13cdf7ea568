"""Scripted stand-ins for the seam's parts (process, docker, registry, git) and the facade.

`FakeHost` holds the scripted world (canned answers, one attribute per kind) and one fake
per part, each implementing only its part's protocol over that world; `calls` records
every call of every part in order. Unknown answers raise, so a test cannot pass by
accident; "absent" answers (an image, manifest or container that does not exist) are
None, as the real parts return them. Where the real docker part only runs a command line
and parses its answer (engine checks, exec, stats), the fake runs the real part over the
scripted process, so the parsing under test is the real one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from build_tools.docker import INSTALL_FIX, START_FIX, BuildxRequest, RealDocker
from build_tools.errors import RegistryError, RuntimeContainerError
from build_tools.process import CommandResult


class FakeProcess:
    def __init__(self, world: FakeHost) -> None:
        self.world = world

    def stream_bytes(
        self, argv: Sequence[str], *, error: type[Exception], fix: str
    ) -> Iterator[bytes]:
        raise AssertionError(f"FakeProcess streams nothing: {' '.join(argv)}")

    def stream_lines(self, argv: Sequence[str]) -> Iterator[str]:
        """The scripted result's output, stdout then stderr, as lines."""
        result = self.run(argv, check=False)
        yield from (result.stdout + result.stderr).splitlines(keepends=True)

    def which(self, program: str) -> str | None:
        return f"/usr/bin/{program}" if program in self.world.programs else None

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        stream: bool = False,
    ) -> CommandResult:
        self.world.calls.append(("run", tuple(argv)))
        joined = " ".join(argv)
        matches = [prefix for prefix in self.world.commands if joined.startswith(prefix)]
        if not matches:
            raise AssertionError(f"FakeHost has no scripted answer for: {joined}")
        best = max(matches, key=len)
        # A tool that writes a report file (--json FILE) writes it, as the real one would.
        for flag, content in self.world.writes.get(best, {}).items():
            Path(argv[list(argv).index(flag) + 1]).write_bytes(content)
        return self.world.commands[best]

    def environment(self) -> Mapping[str, str]:
        return dict(self.world.environ)

    # -- the agent-runner container: a tiny engine model keyed by container id ----------

    def spawn_detached(
        self, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> int:
        self.world.calls.append(("spawn_detached", (tuple(argv), dict(env))))
        pid = 4000 + len(self.world.processes)
        self.world.processes[pid] = True
        return pid

    def process_alive(self, pid: int) -> bool:
        return self.world.processes.get(pid, False)

    def signal_process(self, pid: int, signum: int) -> None:
        self.world.calls.append(("signal_process", (pid, signum)))
        if pid in self.world.processes:
            self.world.processes[pid] = False


class FakeDocker:
    """A tiny engine: local images, a registry's manifests, containers keyed by id."""

    def __init__(self, world: FakeHost) -> None:
        self.world = world
        self._cli = RealDocker(world.process)  # for what is only a command line + parsing

    def ensure(self, *, install_fix: str = INSTALL_FIX, start_fix: str = START_FIX) -> None:
        self.world.calls.append(("ensure_docker", None))
        if self.world.docker_error is not None:
            raise self.world.docker_error
        probe = "docker version --format {{.Server.Version}}"
        if "docker" not in self.world.programs or any(
            probe.startswith(key) for key in self.world.commands
        ):
            self._cli.ensure(install_fix=install_fix, start_fix=start_fix)

    def engine_platform(self) -> str:
        return self._cli.engine_platform()

    def container_exec(self, name_or_id: str, argv: Sequence[str]) -> CommandResult:
        return self._cli.container_exec(name_or_id, argv)

    def container_stats(self, name_or_id: str) -> dict[str, Any]:
        return self._cli.container_stats(name_or_id)

    def imagetools_inspect_raw(self, ref: str) -> dict[str, Any] | None:
        self.world.calls.append(("imagetools_inspect_raw", ref))
        if ref in self.world.unresolvable:
            raise RegistryError(f"Inspecting {ref}", "the registry did not serve it", "Push it.")
        return self.world.raw_manifests.get(ref)

    def image_inspect(self, ref: str) -> dict[str, Any] | None:
        self.world.calls.append(("image_inspect", ref))
        return self.world.local_images.get(ref)

    def image_pull(self, ref: str, *, platform: str | None = None) -> None:
        self.world.calls.append(("image_pull", ref))
        if ref not in self.world.pullable:
            raise RegistryError(f"Pulling {ref}", "the registry has no such tag", "Build.")
        self.world.local_images.setdefault(ref, {"Id": "sha256:" + "cd" * 32, "RepoDigests": []})

    def image_tag(self, source: str, target: str) -> None:
        self.world.calls.append(("image_tag", (source, target)))
        if source not in self.world.local_images:
            raise AssertionError(f"FakeDocker: tagging {source}, which is not local")
        self.world.local_images[target] = self.world.local_images[source]

    def image_remove(self, ref: str) -> None:
        self.world.calls.append(("image_remove", ref))
        self.world.local_images.pop(ref, None)

    def buildx_build(self, request: BuildxRequest, *, log: IO[str]) -> None:
        self.world.calls.append(("buildx_build", request))
        self.world.builds.append(request)
        if self.world.build_error is not None:
            raise self.world.build_error
        if request.metadata_file is not None and self.world.build_digest is not None:
            metadata = {"containerimage.digest": self.world.build_digest}
            request.metadata_file.write_text(json.dumps(metadata), encoding="utf-8")
        log.write("#1 fake build done\n")

    def imagetools_create(
        self, target: str, sources: Sequence[str], *, annotations: Mapping[str, str] | None = None
    ) -> None:
        self.world.calls.append(("imagetools_create", (target, tuple(sources))))
        self.world.index_annotations[target] = dict(annotations or {})

    def image_save_stream(self, ref: str) -> Iterator[bytes]:
        self.world.calls.append(("image_save_stream", ref))
        data = self.world.saved_images[ref]
        # Small uneven chunks, so readers cannot rely on one chunk per tar member.
        for start in range(0, len(data), 3000):
            yield data[start : start + 3000]

    def import_rootfs(
        self, tar_path: Path, *, platform: str, ref: str, changes: Sequence[str]
    ) -> None:
        self.world.calls.append(("import_rootfs", (tar_path.name, platform, ref, tuple(changes))))

    def push(self, ref: str) -> None:
        self.world.calls.append(("push", ref))

    def _find_container(self, name_or_id: str) -> dict[str, Any] | None:
        for container in self.world.containers.values():
            if container["Name"] == "/" + name_or_id or container["Id"].startswith(name_or_id):
                return container
        return None

    def container_run(self, args: Sequence[str], *, env: Mapping[str, str]) -> str:
        self.world.calls.append(("container_run", (tuple(args), dict(env))))
        if self.world.run_error is not None:
            raise self.world.run_error
        if "--rm" in args and not {"--detach", "-d"} & set(args):
            return ""  # ran in the foreground to completion, and was removed
        name = args[list(args).index("--name") + 1]
        if self._find_container(name) is not None:
            raise RuntimeContainerError(
                "Starting the agent-runner container", f"the name {name} is in use", "Remove it."
            )
        container_id = f"{len(self.world.calls):064x}"  # unique: calls only grow
        labels = dict(
            a.split("=", 1) for a, f in zip(args[1:], args, strict=False) if f == "--label"
        )
        self.world.containers[container_id] = {
            "Id": container_id,
            "Name": "/" + name,
            "Image": "sha256:" + "ab" * 32,
            "Config": {"Image": args[-1], "Labels": labels},
            "State": {
                "Status": "running",
                "Running": True,
                "StartedAt": self.world.now,
                "ExitCode": 0,
            },
        }
        self.world.container_log_lines.setdefault(container_id, [])
        return container_id

    def container_inspect(self, name_or_id: str) -> dict[str, Any] | None:
        self.world.calls.append(("container_inspect", name_or_id))
        return self._find_container(name_or_id)

    def container_stop(self, name_or_id: str, *, timeout_seconds: int) -> None:
        self.world.calls.append(("container_stop", (name_or_id, timeout_seconds)))
        container = self._find_container(name_or_id)
        if container is not None:
            container["State"].update(Status="exited", Running=False)

    def container_remove(self, name_or_id: str) -> None:
        self.world.calls.append(("container_remove", name_or_id))
        container = self._find_container(name_or_id)
        if container is not None:
            del self.world.containers[container["Id"]]

    def container_logs(self, name_or_id: str, options: Sequence[str]) -> Iterator[str]:
        self.world.calls.append(("container_logs", (name_or_id, tuple(options))))
        container = self._find_container(name_or_id)
        if container is None:
            raise RuntimeContainerError("docker logs", "no such container", "Start it.")
        yield from self.world.container_log_lines[container["Id"]]

    def manifest_digest(self, ref: str) -> str | None:
        self.world.calls.append(("manifest_digest", ref))
        return self.world.digests.get(ref)

    def image_configs(self, ref: str) -> dict[str, dict[str, Any]]:
        self.world.calls.append(("image_configs", ref))
        if ref in self.world.unresolvable:
            raise RegistryError(
                f"Reading the image configs of {ref}", "the registry did not serve them", "Push it."
            )
        return self.world.image_config_answers[ref]


class FakeRegistry:
    def __init__(self, world: FakeHost) -> None:
        self.world = world

    def get(self, url: str, *, accept: Sequence[str] = ()) -> bytes:
        self.world.calls.append(("registry_get", url))
        if url not in self.world.http:  # as a registry answers for what it does not hold
            raise RegistryError(f"GET {url}", "the registry answered HTTP 404", "Push it.")
        return self.world.http[url]

    def stream(self, url: str) -> Iterator[bytes]:
        self.world.calls.append(("registry_stream", url))
        yield self.world.http[url]

    def tags(self, repository: str) -> tuple[str, ...]:
        self.world.calls.append(("registry_tags", repository))
        return tuple(self.world.registry_tag_lists.get(repository, ()))


class FakeGit:
    def __init__(self, world: FakeHost) -> None:
        self.world = world

    def run(self, args: Sequence[str], *, cwd: Path) -> str:
        self.world.calls.append(("git", tuple(args)))
        return self.world.git_answers[" ".join(args)]


@dataclass
class FakeHost:
    programs: set[str] = field(default_factory=lambda: {"docker", "git"})
    # argv prefix (joined with spaces) -> result; the longest matching prefix wins.
    commands: dict[str, CommandResult] = field(default_factory=dict)
    # argv prefix -> {option naming an output file: the bytes the command writes there}
    writes: dict[str, dict[str, bytes]] = field(default_factory=dict)
    raw_manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    # refs that `imagetools inspect` reports as not served (RegistryError, as the real part)
    unresolvable: set[str] = field(default_factory=set)
    local_images: dict[str, dict[str, Any]] = field(default_factory=dict)
    http: dict[str, bytes] = field(default_factory=dict)
    # ref -> the bytes `docker save` would stream (an OCI layout tar)
    saved_images: dict[str, bytes] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    git_answers: dict[str, str] = field(default_factory=dict)
    # ref (registry/name:tag) -> manifest digest; absent refs are unpublished
    digests: dict[str, str] = field(default_factory=dict)
    # registry/name -> its tags
    registry_tag_lists: dict[str, list[str]] = field(default_factory=dict)
    # ref -> platform -> OCI image config, as `imagetools inspect --format '{{json .Image}}'`
    image_config_answers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    docker_error: Exception | None = None
    build_error: Exception | None = None
    build_digest: str | None = None  # the index digest a build writes to its metadata file
    calls: list[tuple[str, Any]] = field(default_factory=list)
    index_annotations: dict[str, dict[str, str]] = field(default_factory=dict)
    builds: list[BuildxRequest] = field(default_factory=list)
    # The agent-runner container lifecycle: id -> `docker inspect` shape; id -> log lines.
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    container_log_lines: dict[str, list[str]] = field(default_factory=dict)
    pullable: set[str] = field(default_factory=set)  # refs image_pull can fetch
    run_error: Exception | None = None
    now: str = "2026-01-01T00:00:00.000000000Z"  # StartedAt of containers it runs
    processes: dict[int, bool] = field(default_factory=dict)  # pid -> alive

    def __post_init__(self) -> None:
        self.process = FakeProcess(self)
        self.docker = FakeDocker(self)
        self.registry = FakeRegistry(self)
        self.git = FakeGit(self)
