"""The image gates against the real engine, registry and tools: the real image passes both,
and two deliberately bad images built FROM it fail with exit 13: one with pip and a bash
left in as root (structure test), one that writes 64 MB in one layer and deletes it in the
next (layer efficiency). Only the engine's platform is gated here (CI gates both)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from build_tools.cli import run
from build_tools.docker import BuildxRequest
from build_tools.host import Host
from tests.integration.conftest import PROJECT_ROOT, TEST_REGISTRY, BuiltImage

BAD_REPOSITORY = f"{TEST_REGISTRY}/test-gates/agent-runner-bad"
# pip back in the image's site-packages and a shell copied to /bin/bash, as root.
STRUCTURE_BAD = (
    "USER root\n"
    "RUN cp /bin/dash /bin/bash && mkdir /opt/agent-runner/site-packages/pip"
    " && touch /opt/agent-runner/site-packages/pip/__init__.py\n"
)
# 64 MB of incompressible bytes written in one layer, deleted in the next: all of it wasted.
WASTE_BAD = "RUN head -c 64000000 /dev/urandom > /opt/waste.bin\nRUN rm /opt/waste.bin\n"


def _gates(image: str, platform: str, report_dir: Path, environ: dict[str, str]) -> int:
    argv = ["gates", "--image", image, "--platform", platform, "--report-dir", str(report_dir)]
    return run(argv, environ, project_root=PROJECT_ROOT)


def _report(report_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((report_dir / "gates.json").read_text(encoding="utf-8"))
    return loaded


def _status(report: dict[str, Any]) -> dict[str, str]:
    return {row["metric"]: row["status"] for row in report["rows"]}


@pytest.fixture(scope="module")
def bad_images(
    built_image: BuiltImage, docker_host: Host, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Both bad images, pushed for the engine's platform under a tag of this session."""
    tag = uuid.uuid4().hex[:10]
    refs: dict[str, str] = {}
    for name, steps in (("structure", STRUCTURE_BAD), ("waste", WASTE_BAD)):
        context = tmp_path_factory.mktemp(f"gates-{name}")
        (context / "Dockerfile").write_text(f"FROM {built_image.pushed_ref}\n{steps}")
        ref = f"{BAD_REPOSITORY}:{name}-{tag}"
        request = BuildxRequest(
            context=context,
            dockerfile=context / "Dockerfile",
            platforms=(built_image.host_platform,),
            tags=(ref,),
            push=True,
        )
        docker_host.docker.buildx_build(request, log=sys.stderr)
        refs[name] = ref
    yield refs
    # The docker driver keeps a copy in the engine too; the registry's tags go with the
    # session's cleanup (tests/conftest.py: a `test-` repository).
    for ref in refs.values():
        docker_host.docker.image_remove(ref)


def test_the_real_image_passes_both_gates(
    built_image: BuiltImage, build_environ: dict[str, str], tmp_path: Path
) -> None:
    code = _gates(built_image.pushed_ref, built_image.host_platform, tmp_path, build_environ)

    report = _report(tmp_path)
    assert code == 0, report
    assert set(_status(report).values()) <= {"pass", "info"}
    assert report["rows"][1]["metric"] == "structure tests passed"
    assert report["rows"][1]["value"] >= 30


def test_pip_and_a_shell_left_in_fail_the_structure_test(
    bad_images: dict[str, str], built_image: BuiltImage, build_environ: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    code = _gates(bad_images["structure"], built_image.host_platform, tmp_path, build_environ)

    assert code == 13
    report = _report(tmp_path)
    assert _status(report)["structure tests failed"] == "fail"
    assert _status(report)["wasted bytes"] == "pass"
    failed = " ".join(report["notes"])
    assert "no pip in the image's site-packages" in failed
    assert "pip cannot be imported" in failed
    if "offline-base.yaml" in " ".join(report["details"][built_image.host_platform]["configs"]):
        assert "no bash" in failed


def test_a_deleted_64_mb_file_fails_the_efficiency_gate(
    bad_images: dict[str, str], built_image: BuiltImage, build_environ: dict[str, str],
    docker_host: Host, tmp_path: Path,
) -> None:  # fmt: skip
    code = _gates(bad_images["waste"], built_image.host_platform, tmp_path, build_environ)

    assert code == 13
    report = _report(tmp_path)
    status = _status(report)
    assert status["structure tests failed"] == "pass"
    assert status["wasted bytes"] == "fail"
    assert status["user wasted ratio"] == "fail"
    assert status["dive --ci rules failed"] == "fail"
    wasted = next(row for row in report["rows"] if row["metric"] == "wasted bytes")
    assert wasted["value"] >= 64
    assert any("/opt/waste.bin" in note for note in report["notes"])

    # the local tag the tools read is gone again
    source = report["details"][built_image.host_platform]["source"]
    assert source.startswith(f"{BAD_REPOSITORY}@sha256:")
    arch = built_image.host_platform.split("/")[1]
    local = f"agent-runner-gates/{arch}:{source.rsplit(':', 1)[1][:12]}"
    assert docker_host.docker.image_inspect(local) is None
