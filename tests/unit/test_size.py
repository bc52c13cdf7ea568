"""Size measurement and the size gate, on saved real registry answers and `docker save` tars.

Fixtures (tests/unit/data): `size-probe/` is what the loopback registry served for
`127.0.0.1:5000/test-size/probe:1`, a two-platform FROM-scratch image pushed by buildx with
provenance (so the index holds attestation entries): `index.json` from
`imagetools inspect --raw`, and every manifest, config and layer blob under `blobs/<hex>`.
Its layers: a 6-byte file (2048-byte tar) and a payload of random bytes plus 12000 zeros
(amd64: 20000 bytes, 22016-byte tar; arm64: 24000 bytes, 25600-byte tar).
`docker-save-probe.tar` is `docker save` of that tag after a pull (both platforms' layers in
the engine); `docker-save-probe-local.tar` is `docker save` of an amd64-only `--load` build.
"""

from __future__ import annotations

import gzip
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from build_tools.errors import BudgetExceededError, BuildError
from build_tools.image.blobs import compression_of, count_unpacked
from build_tools.image.size import (
    LayerSize,
    PlatformSize,
    docker_images_note,
    enforce_size_budget,
    history_commands,
    measure_local,
    measure_pushed,
    readable_step,
    size_report,
)
from build_tools.registry import image_manifests
from tests.unit.fakes import FakeHost

DATA = Path(__file__).parent / "data"
PROBE = DATA / "size-probe"
REF = "127.0.0.1:5000/test-size/probe:1"
BASE = "http://127.0.0.1:5000/v2/test-size/probe"
AMD64_PAYLOAD = "sha256:6f6d5ad9a31f0dea0772a575dde24bc114c0442ba561cdf9e2255fab30d7a897"
ARM64_PAYLOAD = "sha256:1a99a22dc291081f6cfdf55b3024d3a09f120761452f5a7cb65a01705bd4cd8e"
AMD64_MANIFEST_HEX = "0a3860647ba6a4c58bb912fd1232eaa9f658ca40e8d9a2274316ba72dec0d177"
AMD64_CONFIG_HEX = "43caed871b28cd67800018abe71a52b1bc40f4735cb1c845e1fa0e8d5bba0401"


def _registry_host() -> FakeHost:
    host = FakeHost(http={f"{BASE}/manifests/1": (PROBE / "index.json").read_bytes()})
    for blob in (PROBE / "blobs").iterdir():
        body = blob.read_bytes()
        digest = f"sha256:{blob.name}"
        host.http[f"{BASE}/manifests/{digest}"] = body
        host.http[f"{BASE}/blobs/{digest}"] = body
    return host


def _by_platform(sizes: list[PlatformSize]) -> dict[str, PlatformSize]:
    return {size.platform: size for size in sizes}


def _check_probe_sizes(sizes: list[PlatformSize]) -> None:
    found = _by_platform(sizes)
    assert sorted(found) == ["linux/amd64", "linux/arm64"]
    amd64, arm64 = found["linux/amd64"], found["linux/arm64"]
    assert [layer.unpacked_bytes for layer in amd64.layers] == [2048, 22016]
    assert [layer.unpacked_bytes for layer in arm64.layers] == [2048, 25600]
    assert amd64.unpacked_bytes == 24064
    assert arm64.unpacked_bytes == 27648
    # compressed = layer blobs + config blob, exactly as the manifests list them
    assert amd64.compressed_bytes == 111 + 8224 + 787
    assert arm64.compressed_bytes == 111 + 12220 + 787
    assert amd64.layers[1].digest == AMD64_PAYLOAD
    assert amd64.layers[1].created_by == "COPY payload-amd64.bin /payload.bin # buildkit"
    assert arm64.largest_layers(1)[0].digest == ARM64_PAYLOAD


def test_measure_pushed_counts_each_platform_and_skips_attestations() -> None:
    host = _registry_host()

    sizes = measure_pushed(REF, host.registry)

    _check_probe_sizes(sizes)
    fetched = [url for name, url in host.calls if name == "registry_get"]
    assert not any("14da7dfee0fd" in url or "d66f854cd9f9" in url for url in fetched)


def test_measure_pushed_reads_a_single_platform_manifest() -> None:
    host = _registry_host()
    manifest = (PROBE / "blobs" / AMD64_MANIFEST_HEX).read_bytes()
    host.http[f"{BASE}/manifests/amd64"] = manifest

    (size,) = measure_pushed("127.0.0.1:5000/test-size/probe:amd64", host.registry)

    assert size.platform == "linux/amd64"  # from the config: a lone manifest names none
    assert size.manifest_digest == f"sha256:{AMD64_MANIFEST_HEX}"
    assert size.unpacked_bytes == 24064


def test_measure_local_reads_a_streamed_docker_save_archive() -> None:
    host = FakeHost(saved_images={REF: (DATA / "docker-save-probe.tar").read_bytes()})

    _check_probe_sizes(measure_local(REF, host.docker))


def test_measure_local_skips_platforms_whose_layers_were_not_loaded() -> None:
    ref = "test-size/probe-local:1"
    host = FakeHost(saved_images={ref: (DATA / "docker-save-probe-local.tar").read_bytes()})

    sizes = measure_local(ref, host.docker)

    assert [(size.platform, size.unpacked_bytes) for size in sizes] == [("linux/amd64", 24064)]


def test_measure_local_fails_clearly_on_an_archive_without_images() -> None:
    empty_tar = b"\0" * 10240
    host = FakeHost(saved_images={"x:1": empty_tar})

    with pytest.raises(BuildError, match="holds no platform"):
        measure_local("x:1", host.docker)


def test_index_parsing_keeps_only_runnable_platforms() -> None:
    index = json.loads((PROBE / "index.json").read_text())

    assert [platform for platform, _ in image_manifests(index)] == ["linux/amd64", "linux/arm64"]


def test_history_commands_skip_empty_layer_steps() -> None:
    config = json.loads((PROBE / "blobs" / AMD64_CONFIG_HEX).read_text())

    assert history_commands(config) == [
        "COPY small.txt /small.txt # buildkit",
        "COPY payload-amd64.bin /payload.bin # buildkit",
    ]


def test_count_unpacked_handles_multi_member_gzip_in_odd_chunks() -> None:
    data = gzip.compress(b"a" * 70000) + gzip.compress(b"\0" * 3_000_000)
    chunks = [data[i : i + 777] for i in range(0, len(data), 777)]

    assert count_unpacked(iter(chunks), "gzip") == 3_070_000
    assert count_unpacked(iter([b"abc", b"de"]), "none") == 5


def test_count_unpacked_rejects_a_truncated_gzip_stream() -> None:
    data = gzip.compress(b"x" * 100_000)

    with pytest.raises(BuildError, match="corrupt or truncated"):
        count_unpacked(iter([data[:-20]]), "gzip")
    with pytest.raises(BuildError, match="corrupt or truncated"):
        count_unpacked(iter([b"\x1f\x8bnot gzip at all"]), "gzip")


def _zstd_module() -> Any:
    for name in ("compression.zstd", "zstandard"):  # Python 3.14's stdlib, or the package
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def test_zstd_layers_are_counted_or_refused_clearly() -> None:
    module = _zstd_module()
    if module is None:
        with pytest.raises(BuildError, match="pip install zstandard"):
            count_unpacked(iter([b"\x28\xb5\x2f\xfd"]), "zstd")
    else:
        compressed = module.compress(b"z" * 50_000)
        assert count_unpacked(iter([compressed[:10], compressed[10:]]), "zstd") == 50_000


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        ("application/vnd.oci.image.layer.v1.tar+gzip", "gzip"),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"),
        ("application/vnd.oci.image.layer.v1.tar+zstd", "zstd"),
        ("application/vnd.oci.image.layer.v1.tar", "none"),
    ],
)
def test_compression_from_media_type(media_type: str, compression: str) -> None:
    assert compression_of(media_type) == compression


def test_unknown_layer_media_types_are_refused() -> None:
    with pytest.raises(BuildError, match="not one this tool can count"):
        compression_of("application/vnd.example.layer+lz4")


def _layer(digest: str, unpacked: int, step: str) -> LayerSize:
    return LayerSize(
        digest, "application/vnd.oci.image.layer.v1.tar+gzip", unpacked // 3, unpacked, step
    )


def _platform(name: str, *unpacked: int) -> PlatformSize:
    layers = tuple(
        _layer(f"sha256:{index:064x}", size, f"RUN step-{index} # buildkit")
        for index, size in enumerate(unpacked)
    )
    return PlatformSize(name, "sha256:" + "f" * 64, 1000, layers)


@pytest.mark.parametrize(
    ("created_by", "readable"),
    [
        ("COPY small.txt /small.txt # buildkit", "COPY small.txt /small.txt"),
        ("RUN |2 UID=1 GID=2 /bin/sh -c set -eu;   rm -rf /x # buildkit", "RUN set -eu; rm -rf /x"),
        ("RUN /bin/sh -c apt-get clean # buildkit", "RUN apt-get clean"),
        ("Imported from -", "Imported from -"),
        ("", "(no history)"),
    ],
)
def test_history_steps_read_like_dockerfile_lines(created_by: str, readable: str) -> None:
    assert readable_step(created_by) == readable


def test_gate_passes_at_or_under_budget() -> None:
    enforce_size_budget([_platform("linux/amd64", 400_000_000, 100_000_000)], 500)


def test_gate_names_the_platform_over_budget_and_its_five_largest_layers() -> None:
    sizes = [
        _platform("linux/amd64", 100_000_000),
        _platform("linux/arm64", 1_000, 300_000_000, 2_000, 150_000_000, 3_000, 4_000, 5_000),
    ]

    with pytest.raises(BudgetExceededError) as raised:
        enforce_size_budget(sizes, 200)

    message = str(raised.value)
    assert "linux/arm64 is 450.015 MB" in message
    assert "linux/amd64" not in message
    assert message.index("RUN step-1") < message.index("RUN step-3") < message.index("RUN step-6")
    assert "step-0" not in message  # not among the five largest
    assert "step-2" not in message
    assert raised.value.exit_code == 7


def test_size_report_gates_unpacked_and_reports_compressed() -> None:
    sizes = [_platform("linux/amd64", 600_000_000), _platform("linux/arm64", 10_000_000)]

    report = size_report("img:1", sizes, 500)

    gated = {row.scope: row.status for row in report.rows if row.budget is not None}
    assert gated == {"linux/amd64": "fail", "linux/arm64": "pass"}
    compressed = [row for row in report.rows if row.metric == "image size, compressed"]
    assert [row.value for row in compressed] == [200.001, 3.334]
    assert report.details is not None
    assert report.details["platforms"][0]["layers"][0]["unpacked_bytes"] == 600_000_000


def test_the_report_says_what_docker_images_shows_and_why_it_differs() -> None:
    # The offline base (amd64) as measured on a containerd-store engine: 65.73 MB of layer
    # tars, 24.25 MB of blobs + config; `docker images` listed it at 93.9 MB ("about": the
    # disk blocks add a few percent).
    layer = LayerSize("sha256:" + "a" * 64, "application/vnd.oci.image.layer.v1.tar+gzip",
                      24_247_000, 65_730_560, "Imported from -")  # fmt: skip
    size = PlatformSize("linux/amd64", "sha256:" + "b" * 64, 826, (layer,))

    note = docker_images_note(size)

    assert note == (
        "linux/amd64: `docker images` shows about 90.0 MB: with the containerd image store it "
        "counts the compressed layers (24.2 MB) plus their unpacked snapshot (65.7 MB), in disk "
        "blocks; the gate counts only the unpacked layers of this one platform, from its "
        "manifest (65.7 MB)"
    )
    report = size_report("img:1", [size, _platform("linux/arm64", 10_000_000)], 500)
    assert note + "." in report.notes
    assert any(
        n.startswith("linux/arm64: `docker images` shows about 13.3 MB") for n in report.notes
    )


def test_history_falls_back_to_the_comment_of_imported_layers() -> None:
    config = {
        "history": [
            {"created_by": "", "comment": "Imported from -"},
            {"created_by": "ENV A=1", "empty_layer": True},
            {"created_by": "COPY a /a # buildkit"},
        ]
    }

    assert history_commands(config) == ["Imported from -", "COPY a /a # buildkit"]
