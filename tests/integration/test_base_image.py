"""The offline base image built for real: mmdebstrap, docker import, the loopback registry.

It is built under a test tag (not the configured one, which other builds use) with
--force, so this measures a cold build of both platforms, then an idempotent re-run.
Figures go to stdout (`pytest -s`) and to the JUnit properties.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from build_tools.config import load_config
from build_tools.docker import BuildxRequest, require_local_image
from build_tools.host import Host, real_host
from build_tools.image.base_image import platforms_in_index, run_base_image
from build_tools.image.size import measure_pushed
from build_tools.options import BaseImageArguments

TAG = "127.0.0.1:5000/agent-runner-base/test-python:3.13-trixie"
PLATFORMS = ("linux/amd64", "linux/arm64")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
STDLIB_CHECK = (
    "import ssl, sqlite3, zlib, json, asyncio, ctypes, lzma, bz2, zoneinfo;"
    " ssl.create_default_context(); print(ssl.OPENSSL_VERSION)"
)
# Unpacked size of one platform; python:3.13-slim is ~120-150 MB, ours should be smaller.
SIZE_LIMIT_BYTES = 150_000_000
Record = Callable[[str, object], None]


@dataclass(frozen=True)
class Build:
    output: str
    seconds: float


@pytest.fixture(scope="module")
def host() -> Host:
    real = real_host(os.environ)
    real.docker.ensure()
    if real.process.which("mmdebstrap") is None:
        pytest.fail("mmdebstrap is missing: run bash .ci/provision-docker-host")
    return real


def _seed(host: Host, work: Path, *, force: bool) -> Build:
    config = replace(
        load_config(PROJECT_ROOT, {}, {"offline": True}),
        offline_base_image=TAG,
        project_root=work,  # the rootfs tars go to a temporary build/ dir
        platforms=PLATFORMS,
    )
    out = io.StringIO()
    started = time.monotonic()
    code = run_base_image(BaseImageArguments(force=force), config, host, out=out)
    seconds = time.monotonic() - started
    print(out.getvalue())
    assert code == 0
    return Build(out.getvalue(), seconds)


@pytest.fixture(scope="module")
def cold(host: Host, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    build = _seed(host, tmp_path_factory.mktemp("base-image"), force=True)
    yield build
    for ref in (TAG, f"{TAG}-amd64", f"{TAG}-arm64"):
        host.process.run(["docker", "image", "rm", ref], check=False)


def _docker_run(
    platform: str, *command: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "run", "--rm", "--platform", platform, TAG, *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cold_build_reports_each_platform(cold: Build, record_property: Record) -> None:
    per_platform = dict(re.findall(r"^(linux/\w+): ([\d.]+) s, Python 3\.13", cold.output, re.M))
    assert set(per_platform) == set(PLATFORMS)
    for platform, seconds in per_platform.items():
        record_property(f"build_seconds_{platform}", seconds)
    record_property("cold_build_seconds", round(cold.seconds, 1))
    print(f"cold build, both platforms: {cold.seconds:.1f} s ({per_platform})")
    assert f"{TAG} now serves linux/amd64, linux/arm64." in cold.output


def test_tag_lists_exactly_amd64_and_arm64(cold: Build, host: Host) -> None:
    assert sorted(platforms_in_index(host.docker.imagetools_inspect_raw(TAG) or {})) == list(
        PLATFORMS
    )


def test_rerun_is_idempotent_and_fast(
    cold: Build, host: Host, tmp_path: Path, record_property: Record
) -> None:
    digest_before = host.process.run(["docker", "buildx", "imagetools", "inspect", TAG]).stdout

    again = _seed(host, tmp_path, force=False)

    assert "nothing to do" in again.output
    assert (
        host.process.run(["docker", "buildx", "imagetools", "inspect", TAG]).stdout == digest_before
    )
    record_property("idempotent_rerun_seconds", round(again.seconds, 2))
    assert again.seconds < 10


def test_amd64_has_the_stdlib_a_shell_and_no_pip(cold: Build) -> None:
    stdlib = _docker_run("linux/amd64", "python3", "-c", STDLIB_CHECK)
    assert stdlib.returncode == 0, stdlib.stderr
    assert stdlib.stdout.startswith("OpenSSL 3.")

    shell = _docker_run("linux/amd64", "/bin/sh", "-c", "echo ok; stat -c %a /tmp")
    assert shell.stdout.split() == ["ok", "1777"], shell.stderr

    pip = _docker_run("linux/amd64", "python3", "-m", "pip", "--version")
    assert pip.returncode != 0
    assert "No module named pip" in pip.stderr


def test_labels_name_the_python_and_the_archive_date(cold: Build, host: Host) -> None:
    labels = require_local_image(host.docker, f"{TAG}-amd64")["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"].startswith("3.13.")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["org.opencontainers.image.created"]
    )


@pytest.mark.slow
def test_arm64_runs_under_qemu(cold: Build) -> None:
    # Emulation on these hosts is slow (seconds for a bare interpreter start): one run only.
    check = "import platform, ssl, sqlite3; print(platform.machine())"
    result = _docker_run("linux/arm64", "python3", "-c", check, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "aarch64"


def test_unpacked_size_per_platform(cold: Build, host: Host, record_property: Record) -> None:
    sizes = {size.platform: size.unpacked_bytes for size in measure_pushed(TAG, host.registry)}
    assert set(sizes) == set(PLATFORMS)
    listed = host.process.run(
        ["docker", "images", "--format", "{{.Tag}} {{.Size}}", TAG.rsplit(":", 1)[0]]
    ).stdout
    print(f"unpacked bytes from the registry's layers: {sizes}\n`docker images`:\n{listed}")
    for platform, unpacked in sizes.items():
        record_property(f"unpacked_bytes_{platform}", unpacked)
        assert 40_000_000 < unpacked < SIZE_LIMIT_BYTES, (platform, unpacked)


def test_buildx_builds_from_it_for_both_platforms(cold: Build, host: Host, tmp_path: Path) -> None:
    # No RUN step: resolving the base for each platform is what is tested, not emulation.
    (tmp_path / "hello.py").write_text("print('hello')\n")
    (tmp_path / "Dockerfile").write_text(f"FROM {TAG}\nCOPY hello.py /app/hello.py\n")
    log = io.StringIO()
    host.docker.buildx_build(
        BuildxRequest(
            context=tmp_path,
            dockerfile=tmp_path / "Dockerfile",
            platforms=PLATFORMS,
            tags=("agent-runner-base/test-from:1",),
        ),
        log=log,
    )
    for platform in PLATFORMS:
        assert f"[{platform} 1/2] FROM {TAG}@sha256:" in log.getvalue()
