"""The toolchain installed as a wheel (`pip install .`, not editable) into a fresh venv
outside the checkout: its console scripts work, or say in one line that they need one.

pip uses the host's own settings (PIP_INDEX_URL, PIP_CERT, ...) to fetch the dependencies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    bin: Path
    site_packages: Path
    outside: Path  # a working directory in no checkout

    def run(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        # The venv's scripts only: nothing of this checkout on the path.
        environ = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
        return subprocess.run(
            [str(self.bin / script), *args], cwd=self.outside, env=environ,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel-install")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(PROJECT_ROOT)],
        cwd=root, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    (site_packages,) = venv.glob("lib/python3*/site-packages")
    outside = root / "elsewhere"
    outside.mkdir()
    return Installed(venv / "bin", site_packages, outside)


def test_it_is_a_real_install_carrying_the_contract(installed: Installed) -> None:
    package = installed.site_packages / "build_tools"
    assert (package / "__init__.py").is_file()  # not a path pointing back at the checkout
    pth_files = installed.site_packages.glob("*.pth")
    assert not [pth for pth in pth_files if str(PROJECT_ROOT) in pth.read_text()]
    contract = PROJECT_ROOT / "agent-runner/src/agent_runner/contract.py"
    assert (package / "_contract/contract.py").read_bytes() == contract.read_bytes()


def test_agent_runner_local_help_and_status_work_outside_a_checkout(
    installed: Installed, tmp_path: Path
) -> None:
    helped = installed.run("agent-runner-local", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "usage: agent-runner-local" in helped.stdout

    name = f"h3-absent-{uuid.uuid4().hex[:8]}"  # no such container
    common = ("--name", name, "--data-dir", str(tmp_path / "data"))
    status = installed.run("agent-runner-local", "status", *common)
    assert status.returncode == 0, status.stderr  # an absent runner is a state, not an error
    assert "Traceback" not in status.stderr
    assert "absent" in status.stdout
    report = json.loads(installed.run("agent-runner-local", "status", "--json", *common).stdout)
    assert (report["name"], report["state"]) == (name, "absent")


def test_agent_runner_local_start_dry_run_names_the_wheels_version(
    installed: Installed, tmp_path: Path
) -> None:
    started = installed.run(
        "agent-runner-local", "start", "--dry-run", "--data-dir", str(tmp_path / "data")
    )
    assert started.returncode == 0, started.stderr
    assert "docker run" in started.stdout


def test_building_from_the_wheel_says_it_needs_a_checkout(installed: Installed) -> None:
    helped = installed.run("agent-runner-build", "--help")
    assert helped.returncode == 0, helped.stderr

    built = installed.run("agent-runner-build", "build", "--dry-run")
    assert built.returncode == 2, built.stdout + built.stderr
    (line,) = built.stderr.strip().splitlines()
    assert line.endswith("is not an agent-runner checkout. Run this from an agent-runner checkout.")
