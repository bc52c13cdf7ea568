"""A scripted stand-in for `build_tools.host.Host`: records calls, returns canned answers.

Extend it alongside the Host protocol: one attribute of canned answers per method, one
entry in `calls` per call. Unknown answers raise, so a test cannot pass by accident.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from build_tools.host import BuildxRequest, CommandResult


@dataclass
class FakeHost:
    programs: set[str] = field(default_factory=lambda: {"docker", "git"})
    # argv prefix (joined with spaces) -> result; the longest matching prefix wins.
    commands: dict[str, CommandResult] = field(default_factory=dict)
    raw_manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    local_images: dict[str, dict[str, Any]] = field(default_factory=dict)
    http: dict[str, bytes] = field(default_factory=dict)
    git_answers: dict[str, str] = field(default_factory=dict)
    docker_error: Exception | None = None
    build_error: Exception | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    builds: list[BuildxRequest] = field(default_factory=list)

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
        return self.raw_manifests[ref]

    def imagetools_create(self, target: str, sources: Sequence[str]) -> None:
        self.calls.append(("imagetools_create", (target, tuple(sources))))

    def image_inspect(self, ref: str) -> dict[str, Any]:
        self.calls.append(("image_inspect", ref))
        return self.local_images[ref]

    def registry_get(self, url: str, *, accept: Sequence[str] = ()) -> bytes:
        self.calls.append(("registry_get", url))
        return self.http[url]

    def registry_stream(self, url: str) -> Iterator[bytes]:
        self.calls.append(("registry_stream", url))
        yield self.http[url]

    def git(self, args: Sequence[str], *, cwd: Path) -> str:
        self.calls.append(("git", tuple(args)))
        return self.git_answers[" ".join(args)]
