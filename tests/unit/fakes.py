"""A scripted stand-in for `build_tools.host.Host`: records calls, returns canned answers.

Extend it alongside the Host protocol: one attribute of canned answers per method, one
entry in `calls` per call. Unknown answers raise, so a test cannot pass by accident.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from build_tools.errors import BuildError, RegistryError, RuntimeContainerError
from build_tools.host import BuildxRequest, CommandResult


@dataclass
class FakeHost:
    programs: set[str] = field(default_factory=lambda: {"docker", "git"})
    # argv prefix (joined with spaces) -> result; the longest matching prefix wins.
    commands: dict[str, CommandResult] = field(default_factory=dict)
    raw_manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    # refs that `imagetools inspect` reports as not served (RegistryError, like RealHost)
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

    def which(self, program: str) -> str | None:
        return f"/usr/bin/{program}" if program in self.programs else None

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        stream: bool = False,
    ) -> CommandResult:
        self.calls.append(("run", tuple(argv)))
        joined = " ".join(argv)
        matches = [prefix for prefix in self.commands if joined.startswith(prefix)]
        if not matches:
            raise AssertionError(f"FakeHost has no scripted answer for: {joined}")
        return self.commands[max(matches, key=len)]

    def ensure_docker(self) -> None:
        self.calls.append(("ensure_docker", None))
        if self.docker_error is not None:
            raise self.docker_error

    def buildx_build(self, request: BuildxRequest, *, log: IO[str]) -> None:
        self.calls.append(("buildx_build", request))
        self.builds.append(request)
        if self.build_error is not None:
            raise self.build_error
        log.write("#1 fake build done\n")

    def imagetools_inspect_raw(self, ref: str) -> dict[str, Any]:
        self.calls.append(("imagetools_inspect_raw", ref))
        if ref in self.unresolvable:
            raise RegistryError(f"Inspecting {ref}", "the registry did not serve it", "Push it.")
        return self.raw_manifests[ref]

    def imagetools_create(
        self, target: str, sources: Sequence[str], *, annotations: Mapping[str, str] | None = None
    ) -> None:
        self.calls.append(("imagetools_create", (target, tuple(sources))))
        self.index_annotations[target] = dict(annotations or {})

    def image_inspect(self, ref: str) -> dict[str, Any]:
        self.calls.append(("image_inspect", ref))
        if ref not in self.local_images:  # as RealHost: a missing image is a BuildError
            raise BuildError(
                f"Inspecting local image {ref}", "the engine does not have it", "Build."
            )
        return self.local_images[ref]

    def registry_get(self, url: str, *, accept: Sequence[str] = ()) -> bytes:
        self.calls.append(("registry_get", url))
        return self.http[url]

    def registry_stream(self, url: str) -> Iterator[bytes]:
        self.calls.append(("registry_stream", url))
        yield self.http[url]

    def image_save_stream(self, ref: str) -> Iterator[bytes]:
        self.calls.append(("image_save_stream", ref))
        data = self.saved_images[ref]
        # Small uneven chunks, so readers cannot rely on one chunk per tar member.
        for start in range(0, len(data), 3000):
            yield data[start : start + 3000]

    def import_rootfs(
        self, tar_path: Path, *, platform: str, ref: str, changes: Sequence[str]
    ) -> None:
        self.calls.append(("import_rootfs", (tar_path.name, platform, ref, tuple(changes))))

    def push(self, ref: str) -> None:
        self.calls.append(("push", ref))

    def environment(self) -> Mapping[str, str]:
        return dict(self.environ)

    # -- the agent-runner container: a tiny engine model keyed by container id ----------

    def _find_container(self, name_or_id: str) -> dict[str, Any] | None:
        for container in self.containers.values():
            if container["Name"] == "/" + name_or_id or container["Id"].startswith(name_or_id):
                return container
        return None

    def container_run(self, args: Sequence[str], *, env: Mapping[str, str]) -> str:
        self.calls.append(("container_run", (tuple(args), dict(env))))
        if self.run_error is not None:
            raise self.run_error
        name = args[list(args).index("--name") + 1]
        if self._find_container(name) is not None:
            raise RuntimeContainerError(
                "Starting the agent-runner container", f"the name {name} is in use", "Remove it."
            )
        container_id = f"{len(self.calls):064x}"  # unique: calls only grow
        labels = dict(
            a.split("=", 1) for a, f in zip(args[1:], args, strict=False) if f == "--label"
        )
        self.containers[container_id] = {
            "Id": container_id,
            "Name": "/" + name,
            "Image": "sha256:" + "ab" * 32,
            "Config": {"Image": args[-1], "Labels": labels},
            "State": {"Status": "running", "Running": True, "StartedAt": self.now, "ExitCode": 0},
        }
        self.container_log_lines.setdefault(container_id, [])
        return container_id

    def container_inspect(self, name_or_id: str) -> dict[str, Any] | None:
        self.calls.append(("container_inspect", name_or_id))
        return self._find_container(name_or_id)

    def container_stop(self, name_or_id: str, *, timeout_seconds: int) -> None:
        self.calls.append(("container_stop", (name_or_id, timeout_seconds)))
        container = self._find_container(name_or_id)
        if container is not None:
            container["State"].update(Status="exited", Running=False)

    def container_remove(self, name_or_id: str) -> None:
        self.calls.append(("container_remove", name_or_id))
        container = self._find_container(name_or_id)
        if container is not None:
            del self.containers[container["Id"]]

    def container_logs(self, name_or_id: str, options: Sequence[str]) -> Iterator[str]:
        self.calls.append(("container_logs", (name_or_id, tuple(options))))
        container = self._find_container(name_or_id)
        if container is None:
            raise RuntimeContainerError("docker logs", "no such container", "Start it.")
        yield from self.container_log_lines[container["Id"]]

    def image_pull(self, ref: str) -> None:
        self.calls.append(("image_pull", ref))
        if ref not in self.pullable:
            raise RuntimeContainerError(f"Pulling {ref}", "the registry has no such tag", "Build.")
        self.local_images[ref] = {"Id": "sha256:" + "cd" * 32, "RepoDigests": []}

    def spawn_detached(
        self, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> int:
        self.calls.append(("spawn_detached", (tuple(argv), dict(env))))
        pid = 4000 + len(self.processes)
        self.processes[pid] = True
        return pid

    def process_alive(self, pid: int) -> bool:
        return self.processes.get(pid, False)

    def signal_process(self, pid: int, signum: int) -> None:
        self.calls.append(("signal_process", (pid, signum)))
        if pid in self.processes:
            self.processes[pid] = False

    def git(self, args: Sequence[str], *, cwd: Path) -> str:
        self.calls.append(("git", tuple(args)))
        return self.git_answers[" ".join(args)]

    def manifest_digest(self, ref: str) -> str | None:
        self.calls.append(("manifest_digest", ref))
        return self.digests.get(ref)

    def image_configs(self, ref: str) -> dict[str, dict[str, Any]]:
        self.calls.append(("image_configs", ref))
        if ref in self.unresolvable:
            raise RegistryError(
                f"Reading the image configs of {ref}", "the registry did not serve them", "Push it."
            )
        return self.image_config_answers[ref]

    def registry_tags(self, repository: str) -> tuple[str, ...]:
        self.calls.append(("registry_tags", repository))
        return tuple(self.registry_tag_lists.get(repository, ()))
