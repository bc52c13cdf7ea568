"""Unit tests run no processes: anything that tries fails loudly, so fakes go through the seam."""

from __future__ import annotations

import os
import subprocess
from typing import NoReturn

import pytest


def _refuse(*_args: object, **_kwargs: object) -> NoReturn:
    raise AssertionError(
        "A unit test tried to start a real process. Pass a fake Host through the seam "
        "(tests/unit/fakes.py) or move the test to tests/integration."
    )


@pytest.fixture(autouse=True)
def _no_real_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse)
    for name in ("system", "popen", "posix_spawn", "posix_spawnp", "fork", "execv", "execve"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _refuse)
