"""agent_runner.backend against the stigmer-server double (a real gRPC server, in-process)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest
from agent_runner import backend
from agent_runner.backend import BackendClient, BackendError, merge_env, resolve_chain
from agent_runner.wire.agentexecution_pb2 import (
    EXECUTION_FAILED,
    MESSAGE_AI,
    MESSAGE_SYSTEM,
    TOOL_CALL_COMPLETED,
    AgentExecution,
    AgentExecutionStatus,
    AgentMessage,
    ToolCall,
)
from agent_runner.wire.apiresource_pb2 import ApiResourceReference
from agent_runner.wire.environment_pb2 import EnvironmentSpec, EnvironmentValue
from agent_runner.wire.executioncontext_pb2 import ExecutionValue
from google.protobuf import descriptor_pool

from tests.support.stigmer_server import StigmerServer

API_KEY = "sk-test"


def _registry() -> dict[str, Any]:
    return {
        "sessions": {"ses_1": {"agent_instance_id": "ain_1"}},
        "agent_instances": {
            "ain_1": {
                "agent_id": "agt_1",
                "environment_refs": [{"slug": "base"}, {"slug": "prod"}],
            }
        },
        "agents": {
            "agt_1": {
                "name": "reviewer",
                "instructions": "You review code carefully.",
                "skill_refs": [{"slug": "calc"}, {"slug": "notes", "version": "stable"}],
                "env": {"LEVEL": "agent", "AGENT_ONLY": "a", "TOKEN": "default"},
            }
        },
        "skills": {
            "calc": {"skill_md": "# Calc\n", "version_hash": "ab" * 32, "artifact_key": "calc.zip"},
            "notes": {"skill_md": "# Notes\n", "tag": "stable", "artifact_key": "gone.zip"},
        },
        "artifacts": {"calc.zip": b"PK\x03\x04calc"},
        "environments": {
            "base": {"LEVEL": "base", "BASE_ONLY": "b"},
            "prod": {"LEVEL": "prod", "TOKEN": {"value": "prod-secret", "is_secret": True}},
        },
    }


@pytest.fixture
def server() -> Iterator[StigmerServer]:
    with StigmerServer(**_registry(), api_key=API_KEY) as double:
        yield double


def _execution(session_id: str = "ses_1") -> AgentExecution:
    execution = AgentExecution()
    execution.metadata.id = "aex_1"
    execution.spec.session_id = session_id
    execution.spec.runtime_env["LEVEL"].value = "runtime"
    return execution


def _recording_sleep() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return slept, sleep


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_method_paths_name_the_services_in_the_wire_descriptors() -> None:
    paths = [value for name, value in vars(backend).items() if name.isupper() and "/" in value]
    assert len(paths) == len(set(paths)) == 8
    pool = descriptor_pool.Default()
    for path in paths:
        service, method = path.removeprefix("/").split("/")
        assert method in pool.FindServiceByName(service).methods_by_name, path
    assert backend.method_name(backend.SESSION_GET) == "SessionQueryController.get"


@pytest.mark.parametrize(
    ("endpoint", "tls"),
    [
        ("api.stigmer.ai:443", True),
        ("[::1]:443", True),
        ("localhost:7234", False),
        ("127.0.0.1:4430", False),
        ("host.docker.internal:7234", False),
    ],
)
def test_tls_exactly_when_the_port_is_443(endpoint: str, tls: bool) -> None:
    assert backend.uses_tls(endpoint) is tls
    assert BackendClient(endpoint).tls is tls


@pytest.mark.parametrize("endpoint", ["localhost", "http://localhost:7234", "localhost:http", ":1"])
def test_an_endpoint_that_is_not_host_port_is_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="is not host:port"):
        BackendClient(endpoint)


def test_backoff_doubles_up_to_its_cap() -> None:
    client = BackendClient("localhost:1", initial_backoff=0.5, max_backoff=3.0)
    assert [client.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_the_chain_resolves_with_upstreams_env_precedence(server: StigmerServer) -> None:
    async def go() -> backend.ResolvedAgent:
        async with BackendClient(server.endpoint, API_KEY) as client:
            return await resolve_chain(client, _execution())

    resolved = asyncio.run(go())
    assert resolved.session.spec.agent_instance_id == "ain_1"
    assert resolved.agent_instance.spec.agent_id == "agt_1"
    assert resolved.agent.metadata.name == "reviewer"
    assert resolved.instructions == "You review code carefully."
    calc, notes = resolved.skills
    assert (calc.skill.spec.skill_md, calc.skill.status.version_hash) == ("# Calc\n", "ab" * 32)
    assert calc.artifact == b"PK\x03\x04calc"
    assert notes.skill.spec.skill_md == "# Notes\n"
    assert notes.artifact is None  # its artifact is missing: SKILL.md alone, as upstream
    assert notes.artifact_error is not None
    assert "SkillQueryController.getArtifact: NOT_FOUND" in notes.artifact_error
    assert dict(resolved.env) == {
        "LEVEL": "runtime",  # agent < base < prod < runtime_env
        "AGENT_ONLY": "a",
        "BASE_ONLY": "b",
        "TOKEN": "prod-secret",
    }
    assert resolved.secret_env_keys == {"TOKEN"}
    assert [call.method.rsplit(".", 1)[-1] for call in server.calls] == [
        "SessionQueryController/get",
        "AgentInstanceQueryController/get",
        "AgentQueryController/get",
        "SkillQueryController/getByReference",
        "SkillQueryController/getByReference",
        "SkillQueryController/getArtifact",
        "SkillQueryController/getArtifact",
        "EnvironmentQueryController/getByReference",
        "EnvironmentQueryController/getByReference",
    ]
    assert {call.authorization for call in server.calls} == {f"Bearer {API_KEY}"}


def test_an_execution_without_a_session_is_refused_before_any_call(server: StigmerServer) -> None:
    async def go() -> None:
        async with BackendClient(server.endpoint, API_KEY) as client:
            await resolve_chain(client, _execution(session_id=""))

    with pytest.raises(ValueError, match=r"'aex_1' has no spec\.session_id"):
        asyncio.run(go())
    assert server.calls == []


def test_update_status_reaches_the_server_in_upstreams_field_numbers(
    server: StigmerServer,
) -> None:
    status = AgentExecutionStatus(phase=EXECUTION_FAILED, error="model unreachable")
    status.messages.append(AgentMessage(type=MESSAGE_AI, content="working", timestamp="t1"))
    status.messages.append(AgentMessage(type=MESSAGE_SYSTEM, content="model unreachable"))
    status.tool_calls.append(ToolCall(id="c1", name="ls", status=TOOL_CALL_COMPLETED))
    status.todos["t1"].content = "list files"

    async def go() -> AgentExecution:
        async with BackendClient(server.endpoint, API_KEY) as client:
            return await client.update_status("aex_1", status)

    returned = asyncio.run(go())
    assert returned.metadata.id == "aex_1"
    assert returned.status == status
    [update] = server.status_updates
    assert update["execution_id"] == "aex_1"
    assert (update["phase"], update["error"], update["message_count"]) == (
        4,
        "model unreachable",
        2,
    )
    assert [(m["type"], m["content"]) for m in update["messages"]] == [
        (2, "working"),
        (4, "model unreachable"),
    ]
    assert update["tool_calls"] == [
        {"id": "c1", "name": "ls", "status": 3, "result": "", "error": ""}
    ]
    assert update["todos"] == {"t1": {"content": "list files", "status": 0}}
    assert update["unknown_fields"] == []


def test_transient_failures_are_retried_with_backoff(server: StigmerServer) -> None:
    server.fail_next(2, grpc.StatusCode.UNAVAILABLE)
    slept, sleep = _recording_sleep()

    async def go() -> str:
        async with BackendClient(
            server.endpoint, API_KEY, attempts=3, initial_backoff=0.1, sleep=sleep
        ) as client:
            return (await client.get_session("ses_1")).spec.agent_instance_id

    assert asyncio.run(go()) == "ain_1"
    assert slept == [0.1, 0.2]
    assert len(server.calls) == 3


def test_retries_are_bounded(server: StigmerServer) -> None:
    server.fail_next(5, grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
    slept, sleep = _recording_sleep()

    async def go() -> None:
        async with BackendClient(server.endpoint, API_KEY, attempts=3, sleep=sleep) as client:
            await client.get_agent("agt_1")

    with pytest.raises(BackendError) as caught:
        asyncio.run(go())
    assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(caught.value) == (
        f"Stigmer backend at {server.endpoint} failed AgentQueryController.get: "
        "RESOURCE_EXHAUSTED (slow down; 3 attempts)"
    )
    assert len(slept) == 2
    assert len(server.calls) == 3


@pytest.mark.parametrize(
    ("code", "setup"),
    [
        (grpc.StatusCode.NOT_FOUND, None),
        (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.PERMISSION_DENIED),
    ],
)
def test_other_failures_are_not_retried(
    server: StigmerServer, code: grpc.StatusCode, setup: grpc.StatusCode | None
) -> None:
    if setup is not None:
        server.fail_next(1, setup)
    slept, sleep = _recording_sleep()

    async def go() -> None:
        async with BackendClient(server.endpoint, API_KEY, sleep=sleep) as client:
            await client.get_session("ses_unknown")

    with pytest.raises(BackendError) as caught:
        asyncio.run(go())
    assert caught.value.code is code
    assert caught.value.method == "SessionQueryController.get"
    assert (slept, len(server.calls)) == ([], 1)


def test_the_api_key_is_sent_as_a_bearer_token(server: StigmerServer) -> None:
    async def go(key: str | None) -> None:
        async with BackendClient(server.endpoint, key, attempts=1) as client:
            await client.get_session("ses_1")

    asyncio.run(go(API_KEY))
    with pytest.raises(BackendError, match="UNAUTHENTICATED"):
        asyncio.run(go(None))
    with pytest.raises(BackendError, match="UNAUTHENTICATED"):
        asyncio.run(go("wrong"))
    assert [c.authorization for c in server.calls] == [f"Bearer {API_KEY}", None, "Bearer wrong"]


def test_nothing_listening_names_the_endpoint_and_the_method() -> None:
    endpoint = f"127.0.0.1:{_free_port()}"

    async def go() -> None:
        async with BackendClient(endpoint, attempts=1, timeout=5) as client:
            await client.get_session("ses_1")

    with pytest.raises(BackendError) as caught:
        asyncio.run(go())
    assert str(caught.value).startswith(
        f"Stigmer backend at {endpoint} failed SessionQueryController.get: UNAVAILABLE ("
    )


def test_a_restarted_server_is_reached_again_on_the_same_port(server: StigmerServer) -> None:
    port = server.port
    server.stop()
    slept: list[float] = []

    async def restart_while_backing_off(seconds: float) -> None:
        slept.append(seconds)
        server.start()
        await asyncio.sleep(seconds)  # real time: the channel reconnects meanwhile

    async def go() -> str:
        async with BackendClient(
            server.endpoint,
            API_KEY,
            attempts=3,  # retries at 0.2 s and 0.6 s: before gRPC's default 1 s reconnect
            initial_backoff=0.2,
            sleep=restart_while_backing_off,
        ) as client:
            return (await client.get_agent_instance("ain_1")).spec.agent_id

    assert asyncio.run(go()) == "agt_1"
    assert server.port == port
    assert 1 <= len(slept) <= 2


def test_skill_queries_by_id_reference_and_version(server: StigmerServer) -> None:
    async def go() -> tuple[str, str, bytes]:
        async with BackendClient(server.endpoint, API_KEY) as client:
            by_id = await client.get_skill("skl_calc")
            ref = ApiResourceReference(slug="notes", version="stable")
            by_ref = await client.get_skill_by_reference(ref)
            artifact = await client.get_skill_artifact(by_id.status.artifact_storage_key)
            return by_id.spec.skill_md, by_ref.spec.tag, artifact

    assert asyncio.run(go()) == ("# Calc\n", "stable", b"PK\x03\x04calc")

    async def wrong_version() -> None:
        async with BackendClient(server.endpoint, API_KEY) as client:
            await client.get_skill_by_reference(ApiResourceReference(slug="notes", version="v9"))

    with pytest.raises(BackendError, match="getByReference: NOT_FOUND"):
        asyncio.run(wrong_version())


def test_merge_env_tracks_which_winning_values_are_secret() -> None:
    agent = EnvironmentSpec(data={"A": EnvironmentValue(value="1", is_secret=True)})
    environments = [
        EnvironmentSpec(data={"A": EnvironmentValue(value="2"), "B": EnvironmentValue(value="x")}),
        EnvironmentSpec(data={"B": EnvironmentValue(value="y", is_secret=True)}),
    ]
    runtime = {"C": ExecutionValue(value="z", is_secret=True)}
    env, secret = merge_env(agent, environments, runtime)
    assert env == {"A": "2", "B": "y", "C": "z"}
    assert secret == {"B", "C"}
    assert merge_env(EnvironmentSpec(), [], {}) == ({}, frozenset())
