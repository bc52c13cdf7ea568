"""The container seam of the smoke tests: Temporal and agent-runner as testcontainers.

Like `build_tools.host` for the rest of the toolchain, this module is the one place that
starts, inspects and stops containers for tests (through testcontainers' `DockerContainer`,
i.e. the docker SDK); with `build_tools.testbed.temporal_api` (the questions asked to
Temporal over gRPC) it is the container seam. Everything else receives these objects. The
cold-start measurement (`build_tools.testbed.cold_start`) uses this module, never the
other way round.

Readiness is what Temporal itself reports, never a sleep: the server is ready when
`DescribeNamespace` answers, the runner when `DescribeTaskQueue` lists an activity poller
on its queue. Every container carries `SMOKE_LABEL` so a session can prove it left nothing.

testcontainers' reaper (Ryuk) image cannot be pulled on our hosts: callers clean up
themselves (fixtures with finalizers) and check `leftovers` at the end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient
from testcontainers.core.waiting_utils import WaitStrategy

from build_tools.errors import ConfigError
from build_tools.runtime.contract_loader import Contract
from build_tools.runtime.runner_log import runner_records
from build_tools.testbed.docker_output import cpu_seconds_of
from build_tools.testbed.temporal_api import (
    DEFAULT_NAMESPACE,
    describe_pollers,
    namespace_answers,
    poll_until,
    run_sync,
)
from build_tools.testbed.temporal_image import SERVER_COMMAND, SERVER_PORT

SMOKE_LABEL = "org.stigmer.agent-runner.smoke-session"
LOOPBACK = "127.0.0.1"


class NamespaceAnswers(WaitStrategy):
    """Temporal is ready when DescribeNamespace answers for each of its namespaces."""

    def __init__(self, namespaces: Sequence[str] = (DEFAULT_NAMESPACE,)) -> None:
        super().__init__()
        self.namespaces = tuple(namespaces)
        self._poll_interval = 0.05
        self._startup_timeout = 60.0

    def wait_until_ready(self, container: Any) -> None:
        assert isinstance(container, TemporalContainer)

        async def all_answer(client: Any) -> bool:
            return all([await namespace_answers(client, ns) for ns in self.namespaces])

        run_sync(
            lambda: poll_until(
                all_answer,
                container.address,
                self.namespaces[0],
                timeout=self._startup_timeout,
                interval=self._poll_interval,
                alive=container.exit_reason,
            )
        )


class PollerVisible(WaitStrategy):
    """The runner is ready when DescribeTaskQueue lists an activity poller on its queue."""

    def __init__(self, temporal_address: str, namespace: str, task_queue: str) -> None:
        super().__init__()
        self.temporal_address = temporal_address
        self.namespace = namespace
        self.task_queue = task_queue
        self._poll_interval = 0.02
        self._startup_timeout = 60.0
        self.seen_at: float | None = None  # time.time() of the first answer listing a poller

    def wait_until_ready(self, container: Any) -> None:
        async def polling(client: Any) -> bool:
            return bool(await describe_pollers(client, self.namespace, self.task_queue))

        alive = getattr(container, "exit_reason", lambda: None)
        self.seen_at = run_sync(
            lambda: poll_until(
                polling,
                self.temporal_address,
                self.namespace,
                timeout=self._startup_timeout,
                interval=self._poll_interval,
                alive=alive,
            )
        )


# -- containers ----------------------------------------------------------------------------


class _LabelledContainer(DockerContainer):
    def __init__(self, image: str, session: str, **kwargs: Any) -> None:
        labels = {SMOKE_LABEL: session, **kwargs.pop("labels", {})}
        super().__init__(image, labels=labels, **kwargs)

    def exit_reason(self) -> str | None:
        """None while the container runs (or before start); else why it is gone."""
        if self._container is None:
            return None
        self._container.reload()
        state = self._container.attrs["State"]
        if state["Status"] in {"created", "running"}:
            return None
        return f"the container exited with {state['ExitCode']}: {self.logs_text()[-2000:]}"

    def logs_text(self) -> str:
        stdout, stderr = self.get_logs()
        return (stdout + stderr).decode(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The runner's log records (its lines in the contract's format), in order."""
        return parse_events(self.logs_text())

    def wait_exit(self, timeout: float = 60.0) -> int:
        result = self.get_wrapped_container().wait(timeout=timeout)
        return int(result["StatusCode"])

    def stop_gracefully(self, timeout: int = 10) -> tuple[float, int]:
        """`docker stop` (SIGTERM, SIGKILL after `timeout`); returns (seconds, exit code)."""
        started = time.monotonic()
        self.get_wrapped_container().stop(timeout=timeout)
        elapsed = time.monotonic() - started
        return elapsed, self.wait_exit(timeout=5)

    def start(self) -> Any:
        # Ryuk's image cannot be pulled here and every owner of these objects removes them.
        testcontainers_config.ryuk_disabled = True
        # A failed readiness wait leaves the container behind; remove it before re-raising.
        try:
            return super().start()
        except BaseException:
            self.stop()
            raise

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        """Remove the container; idempotent (fixtures and failed starts may both call it)."""
        from docker.errors import NotFound  # type: ignore[import-untyped]

        if self._container is not None:
            with contextlib.suppress(NotFound):
                self._container.remove(force=force, v=delete_volume)
            self._container = None
            self.get_docker_client().client.close()


def parse_events(text: str) -> list[dict[str, Any]]:
    """Each runner log line's record (`contract.parse_log_line`: its JSON object with "ts"
    and "level"); lines in no such format (tracebacks, other output) are skipped."""
    return runner_records(text.splitlines())


class TemporalContainer(_LabelledContainer):
    """A Temporal dev server with its gRPC port published on every host interface.

    Published on all interfaces so runner containers on a bridge network reach it through
    `host.docker.internal` (host-gateway); this process reaches it on the loopback.
    """

    def __init__(
        self, image: str, *, session: str, namespaces: Sequence[str] = (DEFAULT_NAMESPACE,)
    ) -> None:
        super().__init__(image, session, command=temporal_command(namespaces))
        self.with_bind_ports(SERVER_PORT, None)
        self.waiting_for(NamespaceAnswers((DEFAULT_NAMESPACE, *namespaces)))

    @property
    def port(self) -> int:
        container = self.get_wrapped_container()
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"][f"{SERVER_PORT}/tcp"]
        return int(bindings[0]["HostPort"])

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


def contract_env(contract: Contract, **by_field: str | Path) -> dict[str, str]:
    """Runner environment keyed by the contract's variable names, looked up by Config field.

    `contract_env(c, task_queue="q")` -> {"TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE": "q"}:
    callers never spell a variable name, so a renamed variable cannot be silently missed.
    """
    names = {var.field: var.name for var in contract.env_vars}
    unknown = sorted(set(by_field) - set(names))
    if unknown:
        raise ConfigError(
            "Building the runner environment",
            f"{', '.join(unknown)} is not a field of the runtime contract",
            f"Use one of {sorted(names)}.",
        )
    return {names[key]: str(value) for key, value in by_field.items()}


def check_env_names(contract: Contract, env: Mapping[str, str]) -> None:
    declared = {name for var in contract.env_vars for name in var.all_names}
    unknown = sorted(set(env) - declared)
    if unknown:
        raise ConfigError(
            "Building the runner environment",
            f"{', '.join(unknown)} is not a variable of the runtime contract",
            "Use the names (or aliases) declared in agent_runner/contract.py.",
        )


@dataclass(frozen=True)
class RunOptions:
    """How a runner container is created (docker SDK keywords, tmpfs and bind mounts)."""

    create: dict[str, Any]
    tmpfs: dict[str, str]
    binds: dict[str, str]  # host path -> container path, read-write


def runner_run_options(
    contract: Contract,
    *,
    workspace: Path | None = None,
    user: str | None = None,
    network_mode: str | None = None,
    extra_hosts: Mapping[str, str] | None = None,
    hardened: bool = False,
    platform: str | None = None,
) -> RunOptions:
    """Pure: the docker create options for a runner run the way the Stigmer CLI runs it."""
    create: dict[str, Any] = {}
    if user:
        create["user"] = user
    if network_mode:
        create["network_mode"] = network_mode
    if extra_hosts:
        create["extra_hosts"] = dict(extra_hosts)
    if platform:
        create["platform"] = platform
    tmpfs = {}
    if hardened:
        create.update(read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"])
        # The readiness file's directory (e.g. /tmp); the root filesystem is read-only.
        tmpfs[str(Path(contract.ready_file_default).parent.parent)] = "size=16m"
    binds = {} if workspace is None else {str(workspace): contract.workspace_mount}
    return RunOptions(create, tmpfs, binds)


class AgentRunnerContainer(_LabelledContainer):
    """The agent-runner image, run as the Stigmer CLI runs it, ready when its poller shows.

    `env` holds runtime-contract variables only (checked). `task_queue` and `namespace` are
    where readiness looks for the poller: pass the values `env` sets (canonical or alias).
    """

    def __init__(
        self,
        image: str,
        *,
        session: str,
        contract: Contract,
        temporal_address: str,
        env: Mapping[str, str],
        task_queue: str,
        namespace: str = DEFAULT_NAMESPACE,
        name: str | None = None,
        wait_ready: bool = True,
        ready_timeout: float = 60.0,
        **options: Any,
    ) -> None:
        check_env_names(contract, env)
        run = runner_run_options(contract, **options)
        super().__init__(image, session, env=dict(env), name=name, **run.create)
        for path, tmpfs_options in run.tmpfs.items():
            self.with_tmpfs_mount(path, tmpfs_options)
        for source, target in run.binds.items():
            self.with_volume_mapping(source, target, "rw")
        self.readiness = PollerVisible(temporal_address, namespace, task_queue)
        self.readiness.with_startup_timeout(int(ready_timeout))
        if wait_ready:
            self.waiting_for(self.readiness)


def cpu_seconds(container: DockerContainer) -> float:
    """CPU seconds the running container's cgroup has used since it started (engine stats)."""
    # one_shot: one sample now, not the two (a second apart) that CPU percentages need.
    stats = container.get_wrapped_container().stats(stream=False, one_shot=True)
    return cpu_seconds_of(stats)


def temporal_command(namespaces: Sequence[str]) -> list[str]:
    """The dev server's command; every namespace besides `default` is registered at start."""
    extra = [arg for ns in namespaces if ns != DEFAULT_NAMESPACE for arg in ("--namespace", ns)]
    return [*SERVER_COMMAND, *extra]


# -- leftovers -----------------------------------------------------------------------------


def leftovers(session: str) -> list[str]:
    """Containers and networks still carrying this session's label (should be none)."""
    client = DockerClient().client
    try:
        selector = {"label": f"{SMOKE_LABEL}={session}"}
        found = [f"container {c.name}" for c in client.containers.list(all=True, filters=selector)]
        found += [f"network {n.name}" for n in client.networks.list(filters=selector)]
        return found
    finally:
        client.close()
