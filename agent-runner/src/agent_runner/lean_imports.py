"""Keep modules the poller does not use out of its imports.

temporalio imports two packages optionally, whenever they are installed, for features this
worker does not use:
- grpc, in its API packages, only to offer generated service stubs ("gRPC is optional" in
  temporalio/api/*/v1/__init__.py); the SDK talks to Temporal through its Rust core. grpcio
  came with the backend client (the drop-in), and from then on every start loaded it.
- pydantic (and pydantic_core), in the workflow sandbox, to let pydantic models through
  its restrictions; this worker runs no workflows.
Hidden while temporalio is imported, they load on first real use (the backend client, the
agent framework). Measured in the image (`python3 -X importtime`, median of 8): importing
agent_runner.worker 278 -> 246 ms, its resident memory 62 -> 49 MB.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

# What the worker's start path would import for nothing.
UNUSED_AT_START: tuple[str, ...] = ("grpc", "pydantic", "pydantic_core")


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
