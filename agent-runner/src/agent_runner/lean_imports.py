"""Keep modules the poller does not use out of its imports.

temporalio's API packages import grpc whenever it is installed, only to offer generated
service stubs ("gRPC is optional" in temporalio/api/*/v1/__init__.py); the SDK talks to
Temporal through its Rust core and never uses them. grpcio came with the backend client
(the drop-in), and from then on every start loaded it before polling: ~12 ms and ~9 MB in
the image (measured). Hidden while temporalio is imported, grpc loads on first real use.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

# What the worker's start path would import for nothing.
UNUSED_AT_START: tuple[str, ...] = ("grpc",)


@contextlib.contextmanager
def hidden(names: tuple[str, ...] = UNUSED_AT_START) -> Iterator[None]:
    """Inside, ``import <name>`` raises ImportError for each name not imported already."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # Python's "import halted" marker
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
