"""Connect to Temporal, run the worker, announce readiness, shut down gracefully."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import logging
import os
import signal
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONProtoPayloadConverter,
)
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import Worker

from agent_runner import __version__, contract
from agent_runner.activities import RunnerActivities
from agent_runner.config import Config
from agent_runner.execution import ExecutionDeps, load_agent_module
from agent_runner.logs import emit_event
from agent_runner.readiness import remove_ready_file, write_ready_file
from agent_runner.warmup import Warmup

log = logging.getLogger("agent_runner.worker")

# Per-attempt cap so a black-holed address cannot stall the backoff loop.
CONNECT_ATTEMPT_TIMEOUT_SECONDS = 5.0
# The poller shows up ~10-20 ms after the worker starts: at 50 ms the ready line trailed
# it by ~40 ms (measured); one DescribeTaskQueue costs ~2 ms.
POLLER_CHECK_INTERVAL_SECONDS = 0.01


def make_runtime() -> Runtime:
    """Route the Rust core's logs through Python logging, so every line is JSON."""
    core_logger = logging.getLogger("temporalio.core")
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=core_logger),
            ),
            metrics=None,
        )
    )


class NamespaceNotFoundError(Exception):
    pass


class StigmerPayloadConverter(CompositePayloadConverter):
    """The default converter (what the Go SDK speaks), but protojson input may carry fields
    newer than our wire types: a Stigmer server a release ahead must not break decoding."""

    def __init__(self) -> None:
        super().__init__(
            *(
                JSONProtoPayloadConverter(ignore_unknown_fields=True)
                if isinstance(c, JSONProtoPayloadConverter)
                else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


def data_converter() -> DataConverter:
    return dataclasses.replace(
        DataConverter.default, payload_converter_class=StigmerPayloadConverter
    )


def execution_deps(config: Config) -> ExecutionDeps:
    """The backend client is imported on first use: grpc is not needed to register."""

    def open_backend() -> Any:
        from agent_runner.backend import BackendClient

        key = config.backend_api_key
        if key is None and config.mode == "local":
            key = contract.LOCAL_PLACEHOLDER_API_KEY
        return BackendClient(config.backend_endpoint, api_key=key)

    async def resolve(backend: Any, execution: Any) -> Any:
        from agent_runner.backend import resolve_chain

        return await resolve_chain(backend, execution)

    return ExecutionDeps(
        open_backend=open_backend,
        resolve=resolve,
        load_agent=load_agent_module,
        monotonic=time.monotonic,
    )


def worker_identity() -> str:
    return f"agent-runner-{os.getpid()}@{socket.gethostname()}"


def code_build_id(package_dir: Path = Path(__file__).parent) -> str:
    """The worker's build ID: the version and a digest of this package's source.

    Without one, temporalio hashes the bytecode of every loaded module when the Worker is
    created: ~40 ms of a ~0.45 s cold start (measured). This worker runs activities only
    and its dependencies are pinned by the lock, so its own source names the build.
    """
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        name = path.relative_to(package_dir).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"agent-runner@{__version__}+{digest.hexdigest()[:12]}"


class Runner:
    def __init__(self, config: Config, started_monotonic: float) -> None:
        self.config = config
        self.started = started_monotonic
        self.identity = worker_identity()
        self.stop = asyncio.Event()
        self.runtime = make_runtime()

    def request_stop(self, signame: str) -> None:
        if not self.stop.is_set():
            log.info("stop requested", extra={"signal": signame})
        self.stop.set()

    async def _sleep_or_stop(self, seconds: float) -> bool:
        """Sleep; return True if a stop was requested meanwhile."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            return False
        return True

    async def connect(self) -> Client | None:
        """Retry with capped exponential backoff; None if stopped; TimeoutError on give-up."""
        give_up = self.config.connect_give_up_seconds
        deadline = time.monotonic() + give_up if give_up > 0 else None
        delay = contract.CONNECT_BACKOFF_INITIAL_SECONDS
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            try:
                return await asyncio.wait_for(
                    Client.connect(
                        self.config.temporal_address,
                        namespace=self.config.namespace,
                        identity=self.identity,
                        runtime=self.runtime,
                        data_converter=data_converter(),
                    ),
                    timeout=CONNECT_ATTEMPT_TIMEOUT_SECONDS,
                )
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                log.error(
                    "temporal unreachable, giving up",
                    extra={
                        "attempt": attempt,
                        "address": self.config.temporal_address,
                        "error": error,
                        "give_up_seconds": give_up,
                    },
                )
                raise TimeoutError(error)
            wait = delay if remaining is None else min(delay, remaining)
            log.warning(
                "temporal unreachable, retrying",
                extra={
                    "attempt": attempt,
                    "address": self.config.temporal_address,
                    "error": error,
                    "retry_in_seconds": round(wait, 3),
                },
            )
            if await self._sleep_or_stop(wait):
                return None
            delay = min(delay * 2, contract.CONNECT_BACKOFF_MAX_SECONDS)
        return None

    async def poller_visible(self, client: Client) -> bool:
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.config.namespace,
                task_queue=TaskQueue(name=self.config.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        return any(p.identity == self.identity for p in resp.pollers)

    async def wait_until_polling(self, client: Client, worker_task: asyncio.Task[None]) -> bool:
        while not (self.stop.is_set() or worker_task.done()):
            try:
                if await self.poller_visible(client):
                    return True
            except Exception as exc:
                log.debug("describe_task_queue failed", extra={"error": str(exc)})
            await self._sleep_or_stop(POLLER_CHECK_INTERVAL_SECONDS)
        return False

    def announce_ready(self) -> None:
        payload: dict[str, object] = {
            "event": contract.READY_EVENT,
            "task_queue": self.config.task_queue,
            "namespace": self.config.namespace,
            "identity": self.identity,
            "pid": os.getpid(),
            "startup_seconds": round(time.monotonic() - self.started, 3),
        }
        write_ready_file(self.config.ready_file, payload)
        emit_event(payload)

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        try:
            client = await self.connect()
        except TimeoutError:
            return contract.EXIT_TEMPORAL_UNREACHABLE.code
        if client is None:
            return contract.EXIT_OK.code
        # The cold-start measurement (build_tools.testbed.cold_start) keys a phase on this line.
        log.info("temporal connected", extra={"address": self.config.temporal_address})

        deps = execution_deps(self.config)
        worker = Worker(
            client,
            task_queue=self.config.task_queue,
            activities=RunnerActivities(self.config, deps).all(),
            max_concurrent_activities=self.config.max_concurrency,
            graceful_shutdown_timeout=timedelta(seconds=self.config.shutdown_grace_seconds),
            build_id=code_build_id(),
        )
        worker_task = asyncio.create_task(worker.run())
        try:
            if await self.wait_until_polling(client, worker_task):
                self.announce_ready()
                # What is loaded now stays for the process's life: later collections skip it.
                gc.freeze()
                if self.config.warmup == "1":
                    # After readiness, in a daemon thread: neither the first poll nor a stop
                    # waits for it.
                    Warmup(self.config, deps.load_agent).start()
            stop_task = asyncio.create_task(self.stop.wait())
            await asyncio.wait({worker_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            stop_task.cancel()
        finally:
            # No longer ready from the moment we stop polling.
            remove_ready_file(self.config.ready_file, os.getpid())
            if not worker_task.done():
                log.info(
                    "shutting down",
                    extra={"grace_seconds": self.config.shutdown_grace_seconds},
                )
                await worker.shutdown()
        try:
            await worker_task
        except RuntimeError as exc:
            if "not found" in str(exc).lower() and "namespace" in str(exc).lower():
                raise NamespaceNotFoundError(str(exc)) from exc
            # Anything else is re-raised: unexpected crash exit code in __main__.
            raise
        log.info("stopped")
        return contract.EXIT_OK.code
