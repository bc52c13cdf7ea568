"""Session fixtures shared by every integration test: the agent-runner image, built once.

`built_image` runs the real toolchain (`python -m build_tools build`, in process) twice:
1. `--push`: linux/amd64 and linux/arm64 to the loopback registry under
   `127.0.0.1:5000/test-build/agent-runner:<unique tag>` (size gate on the pushed index);
2. the default: the engine's platform loaded into the local engine as
   `test-build/agent-runner:<same tag>` (size gate on the loaded image; all layers cached).
Settings come from the environment as in CI (`AGENT_RUNNER_BUILD_OFFLINE=1` selects the
offline base). Smoke tests use `built_image.local_ref` for `docker run` and
`built_image.pushed_ref` (or `.pushed_by_digest`) for anything that pulls.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from build_tools.cli import run
from build_tools.config import ToolConfig, load_config
from build_tools.errors import ExternalCommandError, GitError
from build_tools.host import Host, real_host
from build_tools.image.build import engine_platform
from build_tools.image.plan import UNKNOWN_REVISION
from build_tools.project import runner_version

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEST_REGISTRY = "127.0.0.1:5000"
TEST_IMAGE = "test-build/agent-runner"  # our own namespace in the shared registry and engine
PLATFORMS = ("linux/amd64", "linux/arm64")


@dataclass(frozen=True)
class BuiltImage:
    """The image under test. Every ref names the same build of the current tree."""

    local_ref: str  # the engine's platform, loaded: `docker run` this
    pushed_ref: str  # every platform in `platforms`, in the loopback registry
    digest: str  # digest of the pushed index (sha256:...)
    platforms: tuple[str, ...]  # the pushed ones
    host_platform: str  # the one loaded as local_ref
    version: str  # agent-runner's version (the version label)
    revision: str  # git commit of the tree (the revision label), or "unknown"
    report_dir: Path  # the size reports of both builds

    @property
    def pushed_by_digest(self) -> str:
        return f"{self.pushed_ref.rsplit(':', 1)[0]}@{self.digest}"


@pytest.fixture(scope="session")
def build_environ() -> dict[str, str]:
    """The environment the toolchain sees in these tests: the caller's, our image name."""
    return {**os.environ, "AGENT_RUNNER_BUILD_IMAGE": TEST_IMAGE}


@pytest.fixture(scope="session")
def build_config(build_environ: Mapping[str, str]) -> ToolConfig:
    return load_config(PROJECT_ROOT, build_environ)


@pytest.fixture(scope="session")
def docker_host(build_environ: Mapping[str, str]) -> Host:
    host = real_host(build_environ)
    host.docker.ensure()
    return host


def _index_digest(ref: str) -> str:
    result = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", ref, "--format", "{{json .Manifest}}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return str(json.loads(result.stdout)["digest"])


@pytest.fixture(scope="session")
def built_image(
    build_environ: dict[str, str],
    build_config: ToolConfig,
    docker_host: Host,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BuiltImage]:
    # A tag of our own per session: engineers' sessions share the engine and registry.
    tag = f"it-{uuid.uuid4().hex[:10]}"
    report_dir = tmp_path_factory.mktemp("build-reports")
    common = ["--tag", tag, "--report-dir"]
    pushed = run(
        [
            "build", "--push", "--registry", TEST_REGISTRY, "--platform", ",".join(PLATFORMS),
            *common, str(report_dir / "pushed"),
        ],
        build_environ,
        project_root=PROJECT_ROOT,
    )  # fmt: skip
    assert pushed == 0, f"`build --push` exited with {pushed}; its output is above"
    loaded = run(
        ["build", *common, str(report_dir / "loaded")], build_environ, project_root=PROJECT_ROOT
    )
    assert loaded == 0, f"`build` (load) exited with {loaded}; its output is above"
    local_ref = f"{TEST_IMAGE}:{tag}"
    pushed_ref = f"{TEST_REGISTRY}/{TEST_IMAGE}:{tag}"
    try:
        revision = docker_host.git.run(["rev-parse", "HEAD"], cwd=PROJECT_ROOT).strip()
    except (GitError, ExternalCommandError):  # outside a git checkout the label says so
        revision = UNKNOWN_REVISION
    yield BuiltImage(
        local_ref=local_ref,
        pushed_ref=pushed_ref,
        digest=_index_digest(pushed_ref),
        platforms=PLATFORMS,
        host_platform=engine_platform(docker_host),
        version=runner_version(build_config.project_root),
        revision=revision,
        report_dir=report_dir,
    )
    # Only our unique tags; the registry's copy goes with the session's cleanup
    # (tests/conftest.py), which also catches these if this teardown never runs.
    subprocess.run(
        ["docker", "image", "rm", local_ref, pushed_ref], capture_output=True, check=False
    )
