"""Shared pieces of the runtime lifecycle unit tests: the real contract, a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from build_tools.process import CommandResult
from build_tools.runtime.contract_loader import Contract, read_contract
from build_tools.runtime.docker_mode import Clock
from tests.unit.fakes import FakeHost

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DOCKER_UP = CommandResult(("docker", "version"), 0, "26.1.5\n", "")


@pytest.fixture(scope="session")
def contract() -> Contract:
    return read_contract(PROJECT_ROOT)


@dataclass
class FakeTime:
    """Time moves only when code sleeps; `on_sleep` lets a test change the world meanwhile."""

    now_mono: float = 100.0
    wall: datetime = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    on_sleep: list[Callable[[], None]] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.now_mono += seconds
        self.wall += timedelta(seconds=seconds)
        for hook in list(self.on_sleep):
            hook()

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now_mono, sleep=self.sleep, now=lambda: self.wall)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def host() -> FakeHost:
    return FakeHost(commands={"docker version": DOCKER_UP})
