"""Smoke fixtures: the built image against one shared Temporal container per session.

Ryuk (testcontainers' reaper) cannot be pulled on our hosts, so every container is removed
by the fixture that made it, also when a test fails, and the session ends by asserting that
nothing carrying this session's label is left.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from build_tools.config import ToolConfig, load_config
from build_tools.docker import require_local_image
from build_tools.host import real_host
from build_tools.runtime.contract_loader import Contract, load_contract, read_contract
from build_tools.testbed.containers import (
    AgentRunnerContainer,
    TemporalContainer,
    contract_env,
    leftovers,
)
from build_tools.testbed.temporal_image import ensure_temporal_image

# The session's image build (one buildx build, both platforms pushed, host platform loaded).
from tests.integration.conftest import (  # noqa: F401 - fixtures are found by name
    BuiltImage,
    build_config,
    build_environ,
    built_image,
    docker_host,
)
from tests.smoke.helpers import EXTRA_NAMESPACE, FAKE_MODEL, unique
from tests.support.fake_ollama import FakeOllama
from tests.support.fixture_chain import chain_server
from tests.support.stigmer_server import StigmerServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE_VARIABLE = "AGENT_RUNNER_SMOKE_IMAGE"
PUSHED_IMAGE_VARIABLE = "AGENT_RUNNER_SMOKE_PUSHED_IMAGE"
_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tool_config() -> ToolConfig:
    return load_config(PROJECT_ROOT, os.environ)


@pytest.fixture(scope="session")
def contract() -> Contract:
    return read_contract(PROJECT_ROOT)


@pytest.fixture(scope="session")
def contract_module() -> Any:
    """The contract module itself, for values `Contract` does not carry (exit codes)."""
    return load_contract(PROJECT_ROOT)


@pytest.fixture(scope="session")
def session_label() -> Iterator[str]:
    """This session's label value; at the end, nothing may carry it any more."""
    label = unique("smoke")
    yield label
    left = leftovers(label)
    assert not left, f"smoke session left Docker objects behind: {left}"


@pytest.fixture(scope="session")
def runner_image(request: pytest.FixtureRequest) -> str:
    """$AGENT_RUNNER_SMOKE_IMAGE if set (checked to exist), else the session's buildx build."""
    ref = os.environ.get(IMAGE_VARIABLE)
    if ref:
        require_local_image(real_host(os.environ).docker, ref)  # "build it", not a pull
        return ref
    built: BuiltImage = request.getfixturevalue("built_image")
    return built.local_ref


@pytest.fixture(scope="session")
def pushed_runner_image(request: pytest.FixtureRequest) -> str:
    """The same build in the local registry with both platforms (for the arm64 check)."""
    ref = os.environ.get(PUSHED_IMAGE_VARIABLE)
    if not ref:
        built: BuiltImage = request.getfixturevalue("built_image")
        ref = built.pushed_ref
    index = real_host(os.environ).docker.imagetools_inspect_raw(ref) or {}
    platforms = {
        f"{m['platform']['os']}/{m['platform']['architecture']}"
        for m in index.get("manifests", [])
        if "platform" in m
    }
    assert "linux/arm64" in platforms, f"{ref} has no linux/arm64 image (only {platforms})"
    return ref


@pytest.fixture(scope="session")
def temporal(session_label: str, tool_config: ToolConfig) -> Iterator[TemporalContainer]:
    image = ensure_temporal_image(tool_config, real_host(os.environ), log=sys.stderr)
    container = TemporalContainer(
        image, session=session_label, namespaces=("default", EXTRA_NAMESPACE)
    )
    with container:
        yield container


@pytest.fixture(scope="session")
def temporal_address(temporal: TemporalContainer) -> str:
    return temporal.address


@pytest.fixture(scope="session")
def temporal_port(temporal: TemporalContainer) -> int:
    return temporal.port


@pytest.fixture(scope="session")
def fake_ollama() -> Iterator[FakeOllama]:
    # All interfaces, so bridge-network containers reach it through host-gateway; the
    # machine's own addresses only (the loopback and Docker's bridge to this host).
    with FakeOllama(host="0.0.0.0", model=FAKE_MODEL) as fake:
        yield fake


@pytest.fixture(scope="session")
def stigmer_server() -> Iterator[StigmerServer]:
    """stigmer-server's gRPC API on every interface (bridge containers reach it too)."""
    # The machine's own addresses only, as the fake Ollama above.
    with chain_server(host="0.0.0.0") as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


RunnerFactory = Callable[..., AgentRunnerContainer]


@pytest.fixture
def base_env(
    contract: Contract,
    temporal: TemporalContainer,
    fake_ollama: FakeOllama,
    stigmer_server: StigmerServer,
) -> dict[str, str]:
    """Host-network environment: Temporal, the fake Ollama and the backend on the loopback."""
    return contract_env(
        contract,
        temporal_address=temporal.address,
        backend_endpoint=f"127.0.0.1:{stigmer_server.port}",
        task_queue=unique("smoke-q"),
        sandbox_root=contract.workspace_mount,
        llm_provider="ollama",
        llm_model=FAKE_MODEL,
        ollama_base_url=f"http://127.0.0.1:{fake_ollama.port}",
        shutdown_grace_seconds="5",
        connect_give_up_seconds="20",
    )


@pytest.fixture
def make_runner(
    runner_image: str, contract: Contract, temporal: TemporalContainer, session_label: str
) -> Iterator[RunnerFactory]:
    """Start runner containers (host network, no --user: as the CLI); all removed at the end."""
    started: list[AgentRunnerContainer] = []

    def factory(
        env: Mapping[str, str],
        *,
        task_queue: str | None = None,
        namespace: str = "default",
        start: bool = True,
        temporal_address: str | None = None,
        **options: Any,
    ) -> AgentRunnerContainer:
        options.setdefault("network_mode", "host")
        queue_var = contract.env_var("TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE")
        queue = task_queue or next(env[n] for n in queue_var.all_names if n in env)
        container = AgentRunnerContainer(
            options.pop("image", runner_image),
            session=session_label,
            contract=contract,
            temporal_address=temporal_address or temporal.address,
            env=env,
            task_queue=queue,
            namespace=namespace,
            **options,
        )
        started.append(container)
        if start:
            container.start()
        return container

    yield factory
    for container in started:
        container.stop()
