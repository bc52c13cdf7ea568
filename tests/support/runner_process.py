"""Run ``python -m agent_runner`` as a real subprocess and read its log lines."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from build_tools.runtime.runner_log import find_record, runner_records


class RunnerProcess:
    def __init__(
        self,
        env: Mapping[str, str],
        *,
        python: str = sys.executable,
        inherit_env: bool = True,
        argv_prefix: Sequence[str] = (),
    ) -> None:
        # argv_prefix wraps the runner, e.g. ("unshare", "--pid", "--fork") to run it as PID 1.
        self.argv_prefix = tuple(argv_prefix)
        self.env = {**(os.environ if inherit_env else {}), **env}
        self.python = python
        self._log = tempfile.NamedTemporaryFile(prefix="agent-runner-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> RunnerProcess:
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [*self.argv_prefix, self.python, "-m", "agent_runner"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The runner's log records (`contract.parse_log_line`: each line's JSON object with
        "ts" and "level"), in order; lines in no such format are skipped."""
        return runner_records(self.output().splitlines())

    def find_event(self, **match: Any) -> dict[str, Any] | None:
        return find_record(self.output().splitlines(), **match)

    def wait_for_output(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline or (self.process and self.process.poll() is not None):
                raise TimeoutError(f"{text!r} not in runner output:\n{self.output()}")
            time.sleep(0.02)

    def signal(self, sig: int = signal.SIGTERM) -> float:
        assert self.process is not None
        self.process.send_signal(sig)
        return time.monotonic()

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def descendants(self) -> list[int]:
        """PIDs below the runner process (e.g. the PID-1 runner under ``unshare``)."""
        found: list[int] = []
        todo = [self.pid]
        while todo:
            pid = todo.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            found += [int(c) for c in children]
            todo += [int(c) for c in children]
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # Killing a wrapper alone would orphan the real runner below it.
            for pid in self.descendants():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()
        self._log.close()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("VmRSS not found")
