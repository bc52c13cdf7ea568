"""The process part of the seam: the only module that starts subprocesses.

Commands run with the environment the part was made with (passed in, never read at import
time). The docker and git parts run their command lines through a `Process`; everything
else that needs a tool outside Docker and git (pip, mmdebstrap, a Python interpreter)
receives one too. Unit tests pass `tests/unit/fakes.FakeProcess`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from build_tools.errors import BuildToolsError, ExternalCommandError, RuntimeContainerError


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def last_line(self) -> str:
        """What a failure message quotes: the last line the command said, stderr first."""
        said = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return said[-1] if said else "no output"


class Process(Protocol):
    """Running programs on this machine."""

    def which(self, program: str) -> str | None: ...

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        stream: bool = False,
    ) -> CommandResult: ...

    def stream_bytes(
        self, argv: Sequence[str], *, error: type[BuildToolsError], fix: str
    ) -> Iterator[bytes]: ...

    def stream_lines(self, argv: Sequence[str]) -> Iterator[str]: ...

    def environment(self) -> Mapping[str, str]: ...

    def spawn_detached(
        self, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> int: ...

    def process_alive(self, pid: int) -> bool: ...

    def signal_process(self, pid: int, signum: int) -> None: ...


class RealProcess:
    """Subprocesses of this machine, with the environment given at construction."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        # Processes started by spawn_detached, so their exit is observed (no zombies).
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self._environ.get("PATH"))

    def _resolve(self, argv: Sequence[str]) -> list[str]:
        found = self.which(argv[0])
        if found is None and not Path(argv[0]).is_file():
            raise ExternalCommandError(
                f"Running {argv[0]}",
                f"{argv[0]} is not installed or not on PATH",
                "Install it (on Debian hosts: bash .ci/provision-docker-host) and retry.",
            )
        return [found or argv[0], *argv[1:]]

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        stream: bool = False,
    ) -> CommandResult:
        """Run `argv` to completion; with `check`, a non-zero exit is ExternalCommandError."""
        completed = subprocess.run(
            self._resolve(argv),
            cwd=cwd,
            env={**self._environ, **(env or {})},
            check=False,
            text=True,
            stdout=None if stream else subprocess.PIPE,
            stderr=None if stream else subprocess.PIPE,
        )
        result = CommandResult(
            tuple(argv), completed.returncode, completed.stdout or "", completed.stderr or ""
        )
        if check and result.returncode != 0:
            raise ExternalCommandError(
                f"`{' '.join(argv[:3])}`",
                f"it exited with {result.returncode}: {result.last_line()}",
                "Read the output above, fix the cause and retry.",
            )
        return result

    def stream_bytes(
        self, argv: Sequence[str], *, error: type[BuildToolsError], fix: str
    ) -> Iterator[bytes]:
        """Stdout of `argv` in 1 MiB chunks; a non-zero exit raises `error` with `fix`."""
        process = subprocess.Popen(
            self._resolve(argv), env=self._environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            while chunk := process.stdout.read(1 << 20):
                yield chunk
            said = process.stderr.read().decode(errors="replace").strip()
            process.wait()
        finally:
            if process.returncode is None:
                process.kill()  # the reader stopped early; leave nothing running
                process.wait()
            process.stdout.close()
            process.stderr.close()
        if process.returncode != 0:
            raise error(
                f"`{' '.join(argv[:3])}`",
                f"it exited with {process.returncode}: {(said.splitlines() or ['no output'])[-1]}",
                fix,
            )

    def stream_lines(self, argv: Sequence[str]) -> Iterator[str]:
        """Both output streams of `argv`, line by line as they arrive (e.g. a followed log)."""
        process = subprocess.Popen(
            self._resolve(argv),
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

    def environment(self) -> Mapping[str, str]:
        """The environment this part was made with (read-only), e.g. for GITHUB_STEP_SUMMARY."""
        return MappingProxyType(self._environ)

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
