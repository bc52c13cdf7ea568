"""Temporal over gRPC (temporalio), for readiness checks and measurements.

Part of the container seam (`build_tools.testbed.containers`): the questions the smoke
tests and the startup measurement ask Temporal itself, never a sleep: does a namespace
answer (DescribeNamespace), which workers poll an activity task queue (DescribeTaskQueue).
temporalio is imported inside functions: the toolchain runs without it (nox installs it
with the agent-runner lock).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from build_tools.errors import RuntimeContainerError

DEFAULT_NAMESPACE = "default"
_T = TypeVar("_T")


def run_sync(factory: Callable[[], Awaitable[_T]]) -> _T:
    async def go() -> _T:
        return await factory()

    return asyncio.run(go())


# -- Temporal over gRPC -------------------------------------------------------------------


async def connect(address: str, namespace: str) -> Any:
    from temporalio.client import Client

    return await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout=5)


async def namespace_answers(client: Any, namespace: str) -> bool:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    response = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    return bool(response.namespace_info.name == namespace)


async def describe_pollers(client: Any, namespace: str, task_queue: str) -> list[str]:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return [poller.identity for poller in response.pollers]


def activity_pollers(address: str, namespace: str, task_queue: str) -> list[str]:
    """Identities polling `task_queue` for activities, as Temporal sees them right now."""

    async def go() -> list[str]:
        client = await connect(address, namespace)
        return await describe_pollers(client, namespace, task_queue)

    return run_sync(go)


async def poll_until(
    check: Callable[[Any], Awaitable[bool]],
    address: str,
    namespace: str,
    *,
    timeout: float,
    interval: float,
    alive: Callable[[], str | None],
) -> float:
    """Poll `check(client)` until true; return time.time() of success. Reconnects on errors."""
    deadline = time.monotonic() + timeout
    client: Any = None
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if (dead := alive()) is not None:
            raise RuntimeContainerError("Waiting for readiness", dead, "Read the logs above.")
        try:
            client = client or await connect(address, namespace)
            if await check(client):
                return time.time()
        except Exception as exc:  # any gRPC/connect failure means "not yet"
            client, last_error = None, f"{type(exc).__name__}: {exc}".splitlines()[0]
        await asyncio.sleep(interval)
    raise TimeoutError(f"not ready after {timeout:.0f}s at {address} ({last_error})")


class TaskQueueProbe:
    """DescribeTaskQueue on one long-lived client and event loop (cheap to call every 20 ms)."""

    def __init__(self, address: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.address = address
        self.namespace = namespace
        self._loop = asyncio.Runner()
        self._client: Any = None

    def pollers(self, task_queue: str) -> list[str]:
        async def go() -> list[str]:
            self._client = self._client or await connect(self.address, self.namespace)
            return await describe_pollers(self._client, self.namespace, task_queue)

        try:
            return self._loop.run(go())
        except Exception:  # not reachable yet: no pollers; reconnect next time
            self._client = None
            return []

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> TaskQueueProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
