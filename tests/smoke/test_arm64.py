"""The arm64 image boots and registers under QEMU (slow: emulation on our hosts is ~10x)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from build_tools.host import real_host
from tests.smoke.conftest import RunnerFactory

EMULATED_READY_TIMEOUT_SECONDS = 400.0  # seen: ~200 s to ready on a busy 2-core host
ARM64 = "linux/arm64"


@pytest.mark.slow
def test_arm64_image_boots_and_registers_under_qemu(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    pushed_runner_image: str,
    workspace: Path,
) -> None:
    real_host(os.environ).process.run(
        ["docker", "pull", "--quiet", "--platform", ARM64, pushed_runner_image]
    )

    # Returns once Temporal lists the emulated worker's poller on its queue.
    runner = make_runner(
        base_env,
        image=pushed_runner_image,
        platform=ARM64,
        workspace=workspace,
        ready_timeout=EMULATED_READY_TIMEOUT_SECONDS,
    )

    machine = runner.exec(["python3", "-c", "import platform; print(platform.machine())"])
    assert machine.output.decode().strip() == "aarch64"
