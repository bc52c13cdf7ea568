"""Image size per platform, measured from real manifests and blobs, and the size gate.

Two figures per platform, each from its own source:
- unpacked: the bytes of every layer's uncompressed tar stream, counted by decompressing
  the layer blobs. This is what the image occupies once extracted and what the
  `image-size-mb` budget gates.
- compressed: the layer blob sizes plus the config blob, as stored in a registry and
  downloaded by `docker pull`. Reported, not gated.
Neither is what `docker images` lists. With the containerd image store that is the
compressed content the engine keeps plus the unpacked snapshot made from it, in disk
blocks: about the sum of the two (the classic overlay2 store lists about the unpacked
size). The report says so (`docker_images_note`), since users compare that figure with
the budget. `docker image inspect .Size` is not used: with the containerd store it is the
compressed content size alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from build_tools.docker import Docker
from build_tools.errors import BudgetExceededError, BuildError, RegistryError
from build_tools.image.blobs import Blob, compression_of, count_unpacked, read_oci_archive
from build_tools.registry import (
    MANIFEST_MEDIA_TYPES,
    Registry,
    get_json,
    image_manifests,
    is_attestation,
    is_index,
    parse_reference,
    platform_name,
)
from build_tools.report import Report, Row, Status

MB = 1_000_000  # budgets are in MB (10^6 bytes), like `docker images`
LARGEST_LAYERS_LISTED = 5
# BuildKit records `RUN |2 A=1 B=2 /bin/sh -c CMD`: the build args and shell say little.
_RUN_PREFIX = re.compile(r"^RUN (\|\d+ (\S+=\S* )*)?/bin/sh -c ")


@dataclass(frozen=True)
class LayerSize:
    digest: str
    media_type: str
    compressed_bytes: int
    unpacked_bytes: int
    created_by: str  # the Dockerfile step from the config history; "" when unknown


@dataclass(frozen=True)
class PlatformSize:
    platform: str  # os/architecture[/variant]
    manifest_digest: str
    config_bytes: int
    layers: tuple[LayerSize, ...]

    @property
    def unpacked_bytes(self) -> int:
        return sum(layer.unpacked_bytes for layer in self.layers)

    @property
    def compressed_bytes(self) -> int:
        return self.config_bytes + sum(layer.compressed_bytes for layer in self.layers)

    def largest_layers(self, count: int = LARGEST_LAYERS_LISTED) -> tuple[LayerSize, ...]:
        ordered = sorted(self.layers, key=lambda layer: layer.unpacked_bytes, reverse=True)
        return tuple(ordered[:count])


# -- layers and their history ---------------------------------------------------------------


def history_commands(config: Mapping[str, Any]) -> list[str]:
    """The step that made each layer, in layer order (empty-layer steps skipped).

    `created_by` when present; otherwise the comment (`docker import` leaves only
    "Imported from -", which still says where the layer came from).
    """
    history = config.get("history") or []
    return [
        str(step.get("created_by") or step.get("comment") or "")
        for step in history
        if not step.get("empty_layer")
    ]


def _layers(
    manifest: Mapping[str, Any], config: Mapping[str, Any]
) -> list[tuple[dict[str, Any], str]]:
    descriptors: list[dict[str, Any]] = list(manifest.get("layers", []))
    commands = history_commands(config)
    if len(commands) != len(descriptors):  # history is optional and may not line up
        commands = [""] * len(descriptors)
    return list(zip(descriptors, commands, strict=True))


# -- measuring from a registry ---------------------------------------------------------------


def measure_pushed(ref: str, registry: Registry) -> list[PlatformSize]:
    """Sizes of every platform image under `ref` in its registry, layer by layer."""
    where = parse_reference(ref)
    body = registry.get(where.manifest_url(), accept=MANIFEST_MEDIA_TYPES)
    top = json.loads(body)
    if is_index(top):
        manifests = [
            (platform, get_json(registry, where.manifest_url(digest), MANIFEST_MEDIA_TYPES), digest)
            for platform, digest in image_manifests(top)
        ]
    else:  # a single-platform image: its platform is in the config, its digest is the body's
        manifests = [("", top, f"sha256:{hashlib.sha256(body).hexdigest()}")]
    sizes = []
    for platform, manifest, digest in manifests:
        config_descriptor = manifest.get("config") or {}
        config = get_json(registry, where.blob_url(config_descriptor["digest"]))
        layers = tuple(
            LayerSize(
                digest=str(layer["digest"]),
                media_type=str(layer.get("mediaType", "")),
                compressed_bytes=int(layer["size"]),
                unpacked_bytes=count_unpacked(
                    registry.stream(where.blob_url(layer["digest"])),
                    compression_of(str(layer.get("mediaType", ""))),
                ),
                created_by=created_by,
            )
            for layer, created_by in _layers(manifest, config)
        )
        sizes.append(
            PlatformSize(
                platform=platform or platform_name(config),
                manifest_digest=digest,
                config_bytes=int(config_descriptor.get("size", 0)),
                layers=layers,
            )
        )
    if not sizes:
        raise RegistryError(f"Measuring {ref}", "its index lists no platform image", "Push one.")
    return sizes


# -- measuring an image in the local engine --------------------------------------------------


def _blob_json(blobs: Mapping[str, Blob], digest: str, ref: str) -> dict[str, Any]:
    blob = blobs.get(digest)
    if blob is None or blob.content is None:
        raise BuildError(
            f"Measuring local image {ref}",
            f"`docker save` did not include {digest}",
            "Rebuild and load the image (nox -s build), then retry.",
        )
    parsed: dict[str, Any] = json.loads(blob.content)
    return parsed


def measure_local(ref: str, docker: Docker) -> list[PlatformSize]:
    """Sizes of every platform of `ref` whose layers are all in the local engine.

    The source is `docker save` (an OCI layout with the engine's compressed layer blobs),
    streamed and counted layer by layer; the engine's own listing rounds to kB and
    counts disk blocks, so it is not used.
    """
    index, blobs = read_oci_archive(docker.image_save_stream(ref))
    pending = list(index.get("manifests", []))
    sizes: list[PlatformSize] = []
    while pending:
        entry = pending.pop(0)
        if is_attestation(entry):
            continue
        document = _blob_json(blobs, str(entry["digest"]), ref)
        if "manifests" in document:  # a nested index (one per tag)
            pending.extend(document["manifests"])
            continue
        present = all(str(layer["digest"]) in blobs for layer in document.get("layers", []))
        config_digest = str(document["config"]["digest"])
        if not present or config_digest not in blobs:
            continue  # a platform that was not loaded (the engine holds the host's only)
        config = _blob_json(blobs, config_digest, ref)
        layers = tuple(
            LayerSize(
                digest=str(layer["digest"]),
                media_type=str(layer.get("mediaType", "")),
                compressed_bytes=blobs[str(layer["digest"])].size,
                unpacked_bytes=blobs[str(layer["digest"])].unpacked,
                created_by=created_by,
            )
            for layer, created_by in _layers(document, config)
        )
        platform = platform_name(entry.get("platform") or config)
        if any(size.platform == platform for size in sizes):
            continue
        sizes.append(
            PlatformSize(platform, str(entry["digest"]), blobs[config_digest].size, layers)
        )
    if not sizes:
        raise BuildError(
            f"Measuring local image {ref}",
            "the saved image holds no platform with all its layers",
            "Build it with --load (nox -s build), then retry.",
        )
    return sizes


# -- the gate and its report -------------------------------------------------------------------


def _mb(count: int) -> float:
    return round(count / MB, 3)


def readable_step(created_by: str) -> str:
    """A history entry as the Dockerfile line it came from, without BuildKit's decoration."""
    step = " ".join(created_by.removesuffix(" # buildkit").split())
    return _RUN_PREFIX.sub("RUN ", step) or "(no history)"


def _layer_line(layer: LayerSize) -> str:
    step = readable_step(layer.created_by)
    return f"{_mb(layer.unpacked_bytes)} MB {layer.digest[:19]} {step[:100]}"


def enforce_size_budget(sizes: Sequence[PlatformSize], budget_mb: float) -> None:
    """Raise `BudgetExceededError` when any platform's unpacked size is over `budget_mb`."""
    over = [size for size in sizes if size.unpacked_bytes > budget_mb * MB]
    if not over:
        return
    details = "; ".join(
        f"{size.platform} is {_mb(size.unpacked_bytes)} MB ({size.unpacked_bytes} bytes) "
        "unpacked, largest layers: "
        + ", ".join(_layer_line(layer) for layer in size.largest_layers())
        for size in over
    )
    raise BudgetExceededError(
        "The image size gate",
        f"it is over the {budget_mb:g} MB budget: {details}",
        "Shrink the largest layers or raise [tool.agent-runner-build.budgets] image-size-mb.",
    )


def docker_images_note(size: PlatformSize) -> str:
    """What `docker images` shows for this platform's image, and why it is not the gate's."""
    unpacked, compressed = size.unpacked_bytes / MB, size.compressed_bytes / MB
    return (
        f"{size.platform}: `docker images` shows about {unpacked + compressed:.1f} MB: with "
        f"the containerd image store it counts the compressed layers ({compressed:.1f} MB) "
        f"plus their unpacked snapshot ({unpacked:.1f} MB), in disk blocks; the gate counts "
        f"only the unpacked layers of this one platform, from its manifest ({unpacked:.1f} MB)"
    )


def size_report(ref: str, sizes: Sequence[PlatformSize], budget_mb: float) -> Report:
    """Rows: unpacked size (gated) and compressed size per platform; details per layer."""
    rows: list[Row] = []
    notes = [
        f"Image {ref}. Unpacked = uncompressed layer tars (gated); "
        "compressed = layer blobs + config (download size)."
    ]
    for size in sizes:
        # Status from exact bytes, so the table agrees with the gate despite rounding.
        status: Status = "fail" if size.unpacked_bytes > budget_mb * MB else "pass"
        unpacked = _mb(size.unpacked_bytes)
        rows.append(Row("image size, unpacked", size.platform, unpacked, "MB", budget_mb, status))
        rows.append(Row("image size, compressed", size.platform, _mb(size.compressed_bytes), "MB"))
        rows.append(Row("layers", size.platform, len(size.layers), "count"))
        notes.append(
            f"{size.platform} largest layers: "
            + "; ".join(_layer_line(layer) for layer in size.largest_layers())
        )
        notes.append(docker_images_note(size) + ".")
    platforms = [
        {
            **asdict(size),
            "unpacked_bytes": size.unpacked_bytes,
            "compressed_bytes": size.compressed_bytes,
        }
        for size in sizes
    ]
    details = {"ref": ref, "budget_mb": budget_mb, "platforms": platforms}
    return Report(title="Image size", rows=tuple(rows), notes=tuple(notes), details=details)
