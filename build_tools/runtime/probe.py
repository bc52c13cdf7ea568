"""Asked inside the runner's environment (the container, or the from-source interpreter).

`status` passes this file's text to `python -c`, so it resolves the address, namespace,
task queue and readiness file exactly as the runner does (its own config module), and asks
Temporal through the runner's own SDK. Prints one JSON object; never raises.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

CONNECT_TIMEOUT_SECONDS = 3.0


async def _pollers(address: str, namespace: str, task_queue: str) -> list[str]:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    client = await asyncio.wait_for(
        Client.connect(address, namespace=namespace), CONNECT_TIMEOUT_SECONDS
    )
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return [poller.identity for poller in response.pollers]


def probe() -> dict[str, Any]:
    from agent_runner.config import load_config
    from agent_runner.healthcheck import check

    config = load_config(os.environ).config
    healthy, detail = check(config.ready_file)
    ready: dict[str, Any] | None = None
    if healthy:
        ready = json.loads(config.ready_file.read_text(encoding="utf-8"))
    result: dict[str, Any] = {
        "healthy": healthy,
        "health_detail": detail,
        "ready": ready,
        "temporal_address": config.temporal_address,
        "task_queue": config.task_queue,
    }
    try:
        result["pollers"] = asyncio.run(
            _pollers(config.temporal_address, config.namespace, config.task_queue)
        )
        result["temporal"] = "reachable"
    except Exception as exc:  # an unreachable Temporal is an answer, not an error
        result["pollers"] = None
        result["temporal"] = f"unreachable: {type(exc).__name__}: {exc}".splitlines()[0][:200]
    return result


def main() -> None:
    try:
        payload = probe()
    except Exception as exc:  # reported in the JSON; the caller decides
        payload = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()
    # The temporalio runtime has been seen to abort at interpreter exit; skip finalization.
    os._exit(0)


if __name__ == "__main__":
    main()
