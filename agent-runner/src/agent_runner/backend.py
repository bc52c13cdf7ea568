"""The Stigmer backend's gRPC API as agent-runner uses it: chain queries and status reports.

`STIGMER_BACKEND_ENDPOINT` is a gRPC `host:port`: TLS when the port is 443 (what upstream's
runner does), plaintext otherwise (the local stigmer-server). With an API key, every call
carries `authorization: Bearer <key>`, as upstream's client interceptor sends it. Calls go
through `channel.unary_unary(path, ...)` with our wire types' serializers (no generated
stubs); transient failures are retried with bounded exponential backoff, and every failure
ends as one `BackendError` naming the endpoint, the RPC and the gRPC code.

`resolve_chain` walks upstream's chain for an execution: session -> agent instance ->
agent, then the agent's skills (with their artifacts) and the instance's environments, and
merges environment variables in upstream's order of precedence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from agent_runner import contract
from agent_runner.wire import agent_pb2, agentinstance_pb2, session_pb2, skill_pb2
from agent_runner.wire.agentexecution_pb2 import (
    AgentExecution,
    AgentExecutionStatus,
    AgentExecutionUpdateStatusInput,
)
from agent_runner.wire.apiresource_pb2 import ApiResourceReference
from agent_runner.wire.environment_pb2 import Environment, EnvironmentSpec

# gRPC method paths: "/<proto package>.<service>/<method>" (upstream's names).
SESSION_GET = "/ai.stigmer.agentic.session.v1.SessionQueryController/get"
AGENT_INSTANCE_GET = "/ai.stigmer.agentic.agentinstance.v1.AgentInstanceQueryController/get"
AGENT_GET = "/ai.stigmer.agentic.agent.v1.AgentQueryController/get"
SKILL_GET = "/ai.stigmer.agentic.skill.v1.SkillQueryController/get"
SKILL_GET_BY_REFERENCE = "/ai.stigmer.agentic.skill.v1.SkillQueryController/getByReference"
SKILL_GET_ARTIFACT = "/ai.stigmer.agentic.skill.v1.SkillQueryController/getArtifact"
ENVIRONMENT_GET_BY_REFERENCE = (
    "/ai.stigmer.agentic.environment.v1.EnvironmentQueryController/getByReference"
)
EXECUTION_UPDATE_STATUS = (
    "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/updateStatus"
)

# Worth another attempt: the server or the path to it may recover. Everything else
# (NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT, ...) would fail the same way again.
TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)

_Response = TypeVar("_Response", bound=Message)
Sleep = Callable[[float], Awaitable[None]]


def method_name(path: str) -> str:
    """`/pkg.Service/method` -> `Service.method`, the form error messages use."""
    service, _, method = path.lstrip("/").partition("/")
    return f"{service.rsplit('.', 1)[-1]}.{method}"


def uses_tls(endpoint: str) -> bool:
    """Upstream's rule: TLS exactly when the endpoint's port is 443."""
    return endpoint.rpartition(":")[2] == str(contract.BACKEND_TLS_PORT)


class BackendError(Exception):
    """A backend call failed for good (after retries, or with a non-transient code)."""

    def __init__(self, endpoint: str, method: str, code: grpc.StatusCode, details: str) -> None:
        self.endpoint = endpoint
        self.method = method
        self.code = code
        self.details = details
        super().__init__(f"Stigmer backend at {endpoint} failed {method}: {code.name} ({details})")

    @property
    def transient(self) -> bool:
        """The backend may answer a later call (it was down or overloaded, not refusing)."""
        return self.code in TRANSIENT_CODES


class BackendClient:
    """Async client of the Stigmer backend; use as `async with BackendClient(...) as client`.

    The channel opens on first use inside the running event loop and closes with the
    context (or `close()`). `timeout` is each attempt's deadline in seconds; a call makes
    at most `attempts` attempts, sleeping `initial_backoff * 2**n` (capped at
    `max_backoff`) between them.
    """

    def __init__(
        self,
        endpoint: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        initial_backoff: float = 0.25,
        max_backoff: float = 4.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit() or "://" in endpoint:
            raise ValueError(f"Stigmer backend endpoint {endpoint!r} is not host:port")
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        self.endpoint = endpoint
        self.tls = uses_tls(endpoint)
        auth = contract.BACKEND_AUTH_METADATA
        self._metadata = ((auth, f"Bearer {api_key}"),) if api_key else ()
        self._timeout = timeout
        self._attempts = attempts
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._channel: grpc.aio.Channel | None = None

    async def __aenter__(self) -> Self:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            # A channel that failed to connect fails calls fast until its own reconnect
            # backoff (1 s growing to 120 s by default) ends; pace it like our retries so
            # a retry after a backend restart finds the connection back.
            options = [
                ("grpc.initial_reconnect_backoff_ms", round(self._initial_backoff * 1000)),
                ("grpc.max_reconnect_backoff_ms", round(self._max_backoff * 1000)),
            ]
            if self.tls:
                credentials = grpc.ssl_channel_credentials()
                self._channel = grpc.aio.secure_channel(self.endpoint, credentials, options)
            else:
                self._channel = grpc.aio.insecure_channel(self.endpoint, options)
        return self._channel

    def backoff(self, failed_attempt: int) -> float:
        """Seconds to wait after the given (1-based) failed attempt."""
        return float(min(self._max_backoff, self._initial_backoff * 2 ** (failed_attempt - 1)))

    async def _call(self, path: str, request: Message, response_type: type[_Response]) -> _Response:
        call = self._open().unary_unary(
            path,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString,
        )
        for attempt in range(1, self._attempts + 1):
            try:
                return await call(request, timeout=self._timeout, metadata=self._metadata)
            except grpc.aio.AioRpcError as error:
                code = error.code()
                if code not in TRANSIENT_CODES or attempt == self._attempts:
                    details = error.details() or "no details"
                    if attempt > 1:
                        details += f"; {attempt} attempts"
                    raise BackendError(self.endpoint, method_name(path), code, details) from error
            await self._sleep(self.backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def get_session(self, session_id: str) -> session_pb2.Session:
        request = session_pb2.SessionId(value=session_id)
        return await self._call(SESSION_GET, request, session_pb2.Session)

    async def get_agent_instance(self, instance_id: str) -> agentinstance_pb2.AgentInstance:
        request = agentinstance_pb2.AgentInstanceId(value=instance_id)
        return await self._call(AGENT_INSTANCE_GET, request, agentinstance_pb2.AgentInstance)

    async def get_agent(self, agent_id: str) -> agent_pb2.Agent:
        return await self._call(AGENT_GET, agent_pb2.AgentId(value=agent_id), agent_pb2.Agent)

    async def get_skill(self, skill_id: str) -> skill_pb2.Skill:
        return await self._call(SKILL_GET, skill_pb2.SkillId(value=skill_id), skill_pb2.Skill)

    async def get_skill_by_reference(self, ref: ApiResourceReference) -> skill_pb2.Skill:
        return await self._call(SKILL_GET_BY_REFERENCE, ref, skill_pb2.Skill)

    async def get_skill_artifact(self, artifact_storage_key: str) -> bytes:
        """The skill's zip, by `skill.status.artifact_storage_key`."""
        request = skill_pb2.GetArtifactRequest(artifact_storage_key=artifact_storage_key)
        response = await self._call(SKILL_GET_ARTIFACT, request, skill_pb2.GetArtifactResponse)
        return response.artifact

    async def get_environment_by_reference(self, ref: ApiResourceReference) -> Environment:
        return await self._call(ENVIRONMENT_GET_BY_REFERENCE, ref, Environment)

    async def update_status(
        self, execution_id: str, status: AgentExecutionStatus
    ) -> AgentExecution:
        """Report progress; the server merges `status` into the stored execution's."""
        request = AgentExecutionUpdateStatusInput(execution_id=execution_id, status=status)
        return await self._call(EXECUTION_UPDATE_STATUS, request, AgentExecution)


@dataclass(frozen=True)
class ResolvedSkill:
    skill: skill_pb2.Skill
    # The zip, when the skill names one and it downloaded; else None and, if the
    # download failed, why (upstream then falls back to SKILL.md alone).
    artifact: bytes | None = None
    artifact_error: str | None = None


@dataclass(frozen=True)
class ResolvedAgent:
    """What an execution runs with, as the backend describes it."""

    session: session_pb2.Session
    agent_instance: agentinstance_pb2.AgentInstance
    agent: agent_pb2.Agent
    instructions: str  # agent.spec.instructions; may be empty
    skills: tuple[ResolvedSkill, ...]
    env: Mapping[str, str]
    secret_env_keys: frozenset[str]  # keys whose winning value is marked secret


class EnvValue(Protocol):
    """EnvironmentValue and ExecutionValue alike."""

    @property
    def value(self) -> str: ...
    @property
    def is_secret(self) -> bool: ...


def merge_env(
    agent_env: EnvironmentSpec,
    environments: Sequence[EnvironmentSpec],
    runtime_env: Mapping[str, EnvValue],
) -> tuple[dict[str, str], frozenset[str]]:
    """Upstream's precedence: agent env_spec < environments in order < runtime_env.

    Upstream's runner applies this only when the instance has environment refs (and
    otherwise drops runtime_env too); we always apply it, which is what its comments and
    the spec's "Agent defaults < Environment < runtime_env" describe.
    """
    env: dict[str, str] = {}
    secret: set[str] = set()
    layers: list[Mapping[str, EnvValue]] = [agent_env.data]
    layers += [spec.data for spec in environments]
    layers.append(runtime_env)
    for layer in layers:
        for key, value in layer.items():
            env[key] = value.value
            if value.is_secret:
                secret.add(key)
            else:
                secret.discard(key)
    return env, frozenset(secret)


async def _gather_in_order[T](calls: Sequence[Awaitable[T]]) -> list[T]:
    """All results in order, or the first failure (in order) once every call finished."""
    done: list[T] = []
    for result in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result
        done.append(result)
    return done


async def _with_artifact(client: BackendClient, skill: skill_pb2.Skill) -> ResolvedSkill:
    key = skill.status.artifact_storage_key
    if not key:
        return ResolvedSkill(skill)
    try:
        return ResolvedSkill(skill, await client.get_skill_artifact(key))
    except BackendError as error:
        return ResolvedSkill(skill, None, str(error))


async def resolve_chain(client: BackendClient, execution: AgentExecution) -> ResolvedAgent:
    """Session -> agent instance -> agent -> skills and environments, for one execution.

    Raises ValueError when the execution names no session (upstream requires one) and
    BackendError when a lookup fails; a failed artifact download only marks its skill.
    """
    session_id = execution.spec.session_id
    if not session_id:
        raise ValueError(
            f"AgentExecution {execution.metadata.id!r} has no spec.session_id; "
            "the runner finds the agent through the session"
        )
    session = await client.get_session(session_id)
    instance = await client.get_agent_instance(session.spec.agent_instance_id)
    agent = await client.get_agent(instance.spec.agent_id)
    skills = await _gather_in_order(
        [client.get_skill_by_reference(ref) for ref in agent.spec.skill_refs]
    )
    resolved = await _gather_in_order([_with_artifact(client, skill) for skill in skills])
    environments = await _gather_in_order(
        [client.get_environment_by_reference(ref) for ref in instance.spec.environment_refs]
    )
    env, secret = merge_env(
        agent.spec.env_spec, [e.spec for e in environments], execution.spec.runtime_env
    )
    return ResolvedAgent(
        session=session,
        agent_instance=instance,
        agent=agent,
        instructions=agent.spec.instructions,
        skills=tuple(resolved),
        env=env,
        secret_env_keys=secret,
    )
