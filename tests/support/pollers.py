"""Prove registration the way Temporal sees it: pollers from DescribeTaskQueue."""

from __future__ import annotations

import asyncio
import time

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client


async def activity_pollers(client: Client, task_queue: str) -> list[str]:
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return [p.identity for p in resp.pollers]


async def wait_for_poller(
    client: Client,
    task_queue: str,
    *,
    identity_contains: str = "",
    timeout: float = 30.0,
    interval: float = 0.02,
) -> tuple[str, float]:
    """Return (identity, monotonic time first seen); raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        for identity in await activity_pollers(client, task_queue):
            if identity_contains in identity:
                return identity, time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"no activity poller on {task_queue!r} after {timeout}s")
        await asyncio.sleep(interval)
