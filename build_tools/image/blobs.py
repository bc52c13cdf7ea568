"""Counting the unpacked bytes of image layer blobs, from a registry or a `docker save` tar.

Layers are streamed through a decompressor and only the output length is kept, so a
500 MB image is measured in constant memory. The count is exact: the bytes of each
layer's uncompressed tar stream.
"""

from __future__ import annotations

import importlib
import io
import json
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from build_tools.errors import BuildError

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_JSON_BLOB_LIMIT = 4 << 20  # manifests and configs are small; layers are not kept in memory


def _zstd_decompressor_factory() -> Callable[[], Any]:
    for module_name in ("compression.zstd", "zstandard"):  # Python 3.14's stdlib, or the package
        try:
            module: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        if module_name == "zstandard":
            return lambda: module.ZstdDecompressor().decompressobj(read_across_frames=True)
        return module.ZstdDecompressor  # type: ignore[no-any-return]
    raise BuildError(
        "Measuring a zstd-compressed layer",
        "no zstd decompressor is available to this Python",
        "pip install zstandard (or build with gzip layers, buildx's default) and retry.",
    )


def _count_gzip(chunks: Iterable[bytes]) -> int:
    total = 0
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    member_open = False
    for chunk in chunks:
        data = chunk
        while data:
            member_open = True
            # max_length bounds memory on highly compressible data (runs of zeros).
            total += len(decompressor.decompress(data, _CHUNK))
            if decompressor.eof:  # a gzip stream may hold several members back to back
                data = decompressor.unused_data
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                member_open = False
            else:
                data = decompressor.unconsumed_tail
    if member_open:
        raise zlib.error("the gzip stream ended early")
    return total


def _count_zstd(chunks: Iterable[bytes]) -> int:
    make = _zstd_decompressor_factory()
    decompressor = make()
    total = 0
    for chunk in chunks:
        data = chunk
        while data:
            try:
                total += len(decompressor.decompress(data))
            except Exception as exc:  # each zstd library has its own error class
                raise ValueError(f"zstd: {exc}") from exc
            data = b""
            if getattr(decompressor, "eof", False):  # a decompressor that stops at a frame end
                data = decompressor.unused_data
                decompressor = make()
    return total


def count_unpacked(chunks: Iterable[bytes], compression: str) -> int:
    """Bytes of the uncompressed stream; `compression` is "gzip", "zstd" or "none"."""
    try:
        if compression == "gzip":
            return _count_gzip(chunks)
        if compression == "zstd":
            return _count_zstd(chunks)
    except (zlib.error, ValueError) as exc:
        raise BuildError(
            f"Counting the unpacked bytes of a {compression} layer",
            f"the compressed stream is corrupt or truncated ({exc})",
            "Rebuild or re-push the image, then measure again.",
        ) from exc
    return sum(len(chunk) for chunk in chunks)


def compression_of(media_type: str) -> str:
    if media_type.endswith("gzip"):
        return "gzip"
    if media_type.endswith("zstd"):
        return "zstd"
    if media_type.endswith("tar") or media_type.endswith(".tar.nondistributable"):
        return "none"
    raise BuildError(
        f"Measuring a layer of type {media_type}",
        "the layer compression is not one this tool can count",
        "Build with gzip or zstd layers (buildx's default is gzip).",
    )


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (so tarfile can stream it)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


@dataclass(frozen=True)
class Blob:
    size: int
    unpacked: int
    content: bytes | None  # kept only for small blobs that may be JSON


def _read_member(stream: IO[bytes]) -> Blob:
    head = stream.read(4)
    if head.startswith(_GZIP_MAGIC):
        compression = "gzip"
    elif head.startswith(_ZSTD_MAGIC):
        compression = "zstd"
    else:
        compression = "none"
    keep = head.startswith(b"{")
    kept = [head] if keep else []
    size = len(head)

    def chunks() -> Iterator[bytes]:
        nonlocal size
        yield head
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if keep and size <= _JSON_BLOB_LIMIT:
                kept.append(chunk)
            yield chunk

    unpacked = count_unpacked(chunks(), compression)
    content = b"".join(kept) if keep and size <= _JSON_BLOB_LIMIT else None
    return Blob(size=size, unpacked=unpacked, content=content)


def read_oci_archive(chunks: Iterator[bytes]) -> tuple[dict[str, Any], dict[str, Blob]]:
    """(index.json, blobs by digest) from a streamed `docker save` (OCI layout) tar."""
    blobs: dict[str, Blob] = {}
    index: dict[str, Any] = {}
    with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            extracted = archive.extractfile(member)
            if extracted is None:
                continue
            if member.name == "index.json":
                index = json.loads(extracted.read())
            elif member.name.startswith("blobs/"):
                algorithm, _, hexdigest = member.name.removeprefix("blobs/").partition("/")
                blobs[f"{algorithm}:{hexdigest}"] = _read_member(extracted)
    return index, blobs
