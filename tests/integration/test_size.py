"""The size gate against the real engine and the loopback registry.

A FROM-scratch image holding known content is built for two platforms and pushed: a
3,000,000-byte pseudo-random payload (compression cannot shrink it) and 2,000,000 zero bytes
(compression removes nearly all of it, so unpacked and compressed sizes must differ). The
measured unpacked size must match the content plus tar framing, and a budget just under it
must fail naming the payload layer.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_tools.docker import BuildxRequest
from build_tools.errors import BudgetExceededError, BuildError
from build_tools.host import Host, real_host
from build_tools.image.size import (
    PlatformSize,
    enforce_size_budget,
    measure_local,
    measure_pushed,
    size_report,
)

PAYLOAD_BYTES = 3_000_000
ZEROS_BYTES = 2_000_000
SMALL_BYTES = 1_000
# A tar stream adds a 512-byte header per entry, pads to 512 and ends with 1-20 KiB of zeros.
TAR_OVERHEAD_MAX = 24 * 1024
PLATFORMS = ("linux/amd64", "linux/arm64")


@pytest.fixture(scope="module")
def host() -> Host:
    real = real_host(os.environ)
    real.docker.ensure()
    return real


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("size-context")
    # Seeded, so reruns push the same blobs and the registry does not grow.
    (directory / "payload.bin").write_bytes(random.Random(3).randbytes(PAYLOAD_BYTES))
    (directory / "small.txt").write_bytes(b"s" * SMALL_BYTES)
    (directory / "zeros.bin").write_bytes(bytes(ZEROS_BYTES))
    (directory / "Dockerfile").write_text(
        "FROM scratch\nCOPY small.txt /small.txt\nCOPY zeros.bin /data/zeros.bin\n"
        "COPY payload.bin /data/payload.bin\n"
    )
    return directory


def _build(host: Host, context: Path, tag: str, *, platforms: tuple[str, ...], push: bool) -> None:
    request = BuildxRequest(
        context=context,
        dockerfile=context / "Dockerfile",
        platforms=platforms,
        tags=(tag,),
        push=push,
        load=not push,
        provenance=push,  # an attestation entry in the index, which measuring must skip
    )
    host.docker.buildx_build(request, log=sys.stderr)


@pytest.fixture(scope="module")
def pushed(host: Host, context: Path) -> Iterator[str]:
    ref = "127.0.0.1:5000/test-size/integration:probe"
    _build(host, context, ref, platforms=PLATFORMS, push=True)
    yield ref
    # The docker driver also keeps a copy in the engine; the registry copy is what is tested.
    host.process.run(["docker", "image", "rm", ref], check=False)


@pytest.fixture
def loaded(host: Host, context: Path) -> Iterator[str]:
    ref = "test-size/integration-local:probe"
    _build(host, context, ref, platforms=("linux/amd64",), push=False)
    yield ref
    host.process.run(["docker", "image", "rm", ref], check=False)


def _check_known_content(sizes: list[PlatformSize], expected_platforms: set[str]) -> None:
    assert {size.platform for size in sizes} == expected_platforms
    content = PAYLOAD_BYTES + ZEROS_BYTES + SMALL_BYTES
    for size in sizes:
        assert content < size.unpacked_bytes <= content + TAR_OVERHEAD_MAX, size
        # the zeros compress away, the random bytes do not (gzip adds a little instead)
        assert PAYLOAD_BYTES < size.compressed_bytes < PAYLOAD_BYTES + 50_000
        payload, zeros = size.largest_layers(2)
        assert PAYLOAD_BYTES < payload.unpacked_bytes <= PAYLOAD_BYTES + 12 * 1024
        assert "payload.bin" in payload.created_by
        assert ZEROS_BYTES < zeros.unpacked_bytes <= ZEROS_BYTES + 12 * 1024
        assert zeros.compressed_bytes < 20_000


def test_pushed_image_unpacked_size_matches_its_content(pushed: str, host: Host) -> None:
    _check_known_content(measure_pushed(pushed, host.registry), set(PLATFORMS))


def test_loaded_image_unpacked_size_matches_its_content(loaded: str, host: Host) -> None:
    _check_known_content(measure_local(loaded, host.docker), {"linux/amd64"})


def test_gate_fails_below_the_content_size_and_lists_the_layer(pushed: str, host: Host) -> None:
    sizes = measure_pushed(pushed, host.registry)

    enforce_size_budget(sizes, 5.1)  # 5.001 MB of content + tar framing fits
    with pytest.raises(BudgetExceededError) as raised:
        enforce_size_budget(sizes, 4.99)

    message = str(raised.value)
    assert "linux/amd64" in message
    assert "linux/arm64" in message
    assert "COPY payload.bin /data/payload.bin" in message
    report = size_report(pushed, sizes, 4.99)
    assert {row.status for row in report.failed} == {"fail"}
    assert len(report.failed) == 2


def test_single_platform_push_is_measured_from_its_lone_manifest(host: Host, context: Path) -> None:
    ref = "127.0.0.1:5000/test-size/integration:single"
    request = BuildxRequest(
        context=context,
        dockerfile=context / "Dockerfile",
        platforms=("linux/arm64",),
        tags=(ref,),
        push=True,
    )
    host.docker.buildx_build(request, log=sys.stderr)
    try:
        sizes = measure_pushed(ref, host.registry)
    finally:
        host.process.run(["docker", "image", "rm", ref], check=False)

    _check_known_content(sizes, {"linux/arm64"})
    assert sizes[0].manifest_digest.startswith("sha256:")


def test_measuring_a_missing_local_image_fails_clearly(host: Host) -> None:
    with pytest.raises(BuildError, match=r"docker save test-size/absent:none.*exited with 1"):
        measure_local("test-size/absent:none", host.docker)
