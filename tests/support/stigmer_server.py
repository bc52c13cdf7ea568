"""A stand-in for stigmer-server's gRPC API: the queries agent-runner makes and updateStatus.

(Over 400 lines: upstream's field tables, the codec calls that use them and the server are
one double; split, no part could be checked against upstream alone.)

Built on purpose from upstream Stigmer's facts (stigmer/stigmer b070f18,
`apis/ai/stigmer/...`), not from agent-runner's generated classes: the service and method
names below are upstream's literal strings, and requests and responses are decoded and
encoded by `tests.support.protowire` with upstream's field numbers written out here. If
our .proto files got a number, a type or a name wrong, the runner and this double would
disagree and a test would fail.

The server is a real gRPC server (plaintext) in the test process, on its own threads
(`grpc.server`), so it serves a runner in-process (any event loop, or `asyncio.run` per
test), a subprocess, or a container started with `--network host` alike; bind
`host="0.0.0.0"` for a container on a bridge network. Its data is plain dicts:

    StigmerServer(
        sessions={"ses_1": {"agent_instance_id": "ain_1"}},
        agent_instances={"ain_1": {"agent_id": "agt_1", "environment_refs": [{"slug": "base"}]}},
        agents={"agt_1": {"instructions": "Be brief.", "skill_refs": [{"slug": "calc"}],
                          "env": {"A": "1"}}},
        skills={"calc": {"skill_md": "# Calc", "version_hash": "ab12", "artifact_key": "k"}},
        artifacts={"k": b"PK..."},
        environments={"base": {"A": "2", "B": {"value": "s3cret", "is_secret": True}}},
    )

Unknown ids and slugs answer NOT_FOUND. Every call lands in `calls`; every updateStatus
in `status_updates` as a decoded dict (see `_decode_status`). `fail_next` makes the next
calls fail with a code; `stop()` then `start()` comes back on the same port; with
`api_key` set, calls without `authorization: Bearer <key>` get UNAUTHENTICATED.

(Over 400 lines on purpose: upstream's field-number table and one encoder per upstream
message belong together, where a reader can check them against the .proto files.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc

from tests.support import protowire as pw

# Full service names (package + service), upstream's query.proto / command.proto.
SESSION_QUERY = "ai.stigmer.agentic.session.v1.SessionQueryController"
AGENT_INSTANCE_QUERY = "ai.stigmer.agentic.agentinstance.v1.AgentInstanceQueryController"
AGENT_QUERY = "ai.stigmer.agentic.agent.v1.AgentQueryController"
SKILL_QUERY = "ai.stigmer.agentic.skill.v1.SkillQueryController"
ENVIRONMENT_QUERY = "ai.stigmer.agentic.environment.v1.EnvironmentQueryController"
EXECUTION_COMMAND = "ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController"

API_VERSION = "agentic.stigmer.ai/v1"
# ai.stigmer.commons.apiresource.ApiResourceOwnerScope
SCOPE_ORGANIZATION = 2
# ai.stigmer.commons.apiresource.apiresourcekind.ApiResourceKind
KIND_SKILL, KIND_ENVIRONMENT = 43, 53
# ai.stigmer.agentic.skill.v1.SkillState
SKILL_STATE_READY = 2

# Fields every resource message shares (Session, AgentInstance, Agent, Skill, Environment).
RES_API_VERSION, RES_KIND, RES_METADATA, RES_SPEC, RES_STATUS = 1, 2, 3, 4, 5
# ApiResourceMetadata
META_NAME, META_SLUG, META_ID, META_ORG, META_OWNER_SCOPE = 1, 2, 3, 4, 5
# ApiResourceReference
REF_SCOPE, REF_ORG, REF_KIND, REF_SLUG, REF_VERSION = 1, 2, 3, 4, 5
# SessionId, AgentInstanceId, AgentId, SkillId, ApiResourceId
ID_VALUE = 1
# SessionSpec
SESSION_AGENT_INSTANCE_ID, SESSION_SUBJECT, SESSION_THREAD_ID, SESSION_SANDBOX_ID = 1, 2, 3, 4
# AgentInstanceSpec
INSTANCE_AGENT_ID, INSTANCE_DESCRIPTION, INSTANCE_ENVIRONMENT_REFS = 1, 2, 3
# AgentSpec, AgentStatus
AGENT_DESCRIPTION, AGENT_INSTRUCTIONS, AGENT_SKILL_REFS, AGENT_ENV_SPEC = 1, 3, 5, 7
AGENT_STATUS_DEFAULT_INSTANCE_ID = 1
# EnvironmentSpec (also Agent.spec.env_spec), EnvironmentValue
ENV_DESCRIPTION, ENV_DATA = 1, 2
ENV_VALUE_VALUE, ENV_VALUE_IS_SECRET, ENV_VALUE_DESCRIPTION = 1, 2, 3
# SkillSpec, SkillStatus, GetArtifactRequest, GetArtifactResponse
SKILL_MD, SKILL_TAG = 1, 2
SKILL_VERSION_HASH, SKILL_ARTIFACT_KEY, SKILL_STATE = 1, 2, 3
ARTIFACT_REQUEST_KEY, ARTIFACT_RESPONSE_ARTIFACT = 1, 1
# AgentExecutionUpdateStatusInput, AgentExecution
UPDATE_EXECUTION_ID, UPDATE_STATUS = 1, 2
EXECUTION_METADATA, EXECUTION_STATUS = 3, 5
# AgentExecutionStatus
STATUS_MESSAGES, STATUS_PHASE, STATUS_TOOL_CALLS, STATUS_SUB_AGENTS = 1, 2, 3, 4
STATUS_ERROR, STATUS_STARTED_AT, STATUS_COMPLETED_AT, STATUS_TODOS = 6, 7, 8, 9
STATUS_CALLBACK_TOKEN, STATUS_AUDIT = 10, 99
STATUS_FIELDS = frozenset({STATUS_MESSAGES, STATUS_PHASE, STATUS_TOOL_CALLS, STATUS_SUB_AGENTS})
STATUS_FIELDS |= {STATUS_ERROR, STATUS_STARTED_AT, STATUS_COMPLETED_AT, STATUS_TODOS}
STATUS_FIELDS |= {STATUS_CALLBACK_TOKEN, STATUS_AUDIT}
# AgentMessage
MSG_TYPE, MSG_CONTENT, MSG_TIMESTAMP, MSG_TOOL_CALLS = 1, 2, 3, 4
# ToolCall
CALL_ID, CALL_NAME, CALL_RESULT, CALL_STATUS, CALL_ERROR = 1, 2, 4, 5, 9
# TodoItem
TODO_ID, TODO_CONTENT, TODO_STATUS = 1, 2, 3

Registry = dict[str, dict[str, Any]]
_Handler = Callable[[bytes], bytes]


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class Call:
    """One RPC the double received: `/package.Service/method` and its authorization."""

    method: str
    authorization: str | None


def _metadata(resource_id: str, name: str, slug: str, org: str = "local") -> bytes:
    return pw.message(
        pw.string(META_NAME, name),
        pw.string(META_SLUG, slug),
        pw.string(META_ID, resource_id),
        pw.string(META_ORG, org),
        pw.varint(META_OWNER_SCOPE, SCOPE_ORGANIZATION),
    )


def _resource(kind: str, metadata: bytes, spec: bytes, status: bytes | None = None) -> bytes:
    return pw.message(
        pw.string(RES_API_VERSION, API_VERSION),
        pw.string(RES_KIND, kind),
        pw.nested(RES_METADATA, metadata),
        pw.nested(RES_SPEC, spec),
        pw.nested(RES_STATUS, status) if status is not None else b"",
    )


def _reference(ref: Mapping[str, Any], kind: int) -> bytes:
    return pw.message(
        pw.varint(REF_SCOPE, int(ref.get("scope", SCOPE_ORGANIZATION))),
        pw.string(REF_ORG, str(ref.get("org", "local"))),
        pw.varint(REF_KIND, int(ref.get("kind", kind))),
        pw.string(REF_SLUG, str(ref["slug"])),
        pw.string(REF_VERSION, str(ref.get("version", ""))),
    )


def _env_spec(data: Mapping[str, Any], description: str = "") -> bytes:
    """EnvironmentSpec; a value is a str or {"value", "is_secret", "description"}."""
    values: dict[str, bytes] = {}
    for key, raw in data.items():
        entry = raw if isinstance(raw, Mapping) else {"value": raw}
        values[key] = pw.message(
            pw.string(ENV_VALUE_VALUE, str(entry.get("value", ""))),
            pw.varint(ENV_VALUE_IS_SECRET, bool(entry.get("is_secret", False))),
            pw.string(ENV_VALUE_DESCRIPTION, str(entry.get("description", ""))),
        )
    return pw.message(pw.string(ENV_DESCRIPTION, description), pw.message_map(ENV_DATA, values))


def _decode_reference(fields: pw.Fields) -> dict[str, Any]:
    return {
        "scope": fields.integer(REF_SCOPE),
        "org": fields.text(REF_ORG),
        "kind": fields.integer(REF_KIND),
        "slug": fields.text(REF_SLUG),
        "version": fields.text(REF_VERSION),
    }


def _decode_status(status: pw.Fields) -> dict[str, Any]:
    """AgentExecutionStatus as plain data (enums as their numbers)."""
    messages = [
        {
            "type": m.integer(MSG_TYPE),
            "content": m.text(MSG_CONTENT),
            "timestamp": m.text(MSG_TIMESTAMP),
            "tool_calls": [c.text(CALL_NAME) for c in m.messages(MSG_TOOL_CALLS)],
        }
        for m in status.messages(STATUS_MESSAGES)
    ]
    tool_calls = [
        {
            "id": c.text(CALL_ID),
            "name": c.text(CALL_NAME),
            "status": c.integer(CALL_STATUS),
            "result": c.text(CALL_RESULT),
            "error": c.text(CALL_ERROR),
        }
        for c in status.messages(STATUS_TOOL_CALLS)
    ]
    todos = {
        key: {"content": t.text(TODO_CONTENT), "status": t.integer(TODO_STATUS)}
        for key, t in status.message_map(STATUS_TODOS).items()
    }
    return {
        "phase": status.integer(STATUS_PHASE),
        "error": status.text(STATUS_ERROR),
        "message_count": len(messages),
        "messages": messages,
        "tool_calls": tool_calls,
        "sub_agent_count": len(status.messages(STATUS_SUB_AGENTS)),
        "todos": todos,
        "started_at": status.text(STATUS_STARTED_AT),
        "completed_at": status.text(STATUS_COMPLETED_AT),
        "has_audit": status.has(STATUS_AUDIT),
        # Field numbers upstream's AgentExecutionStatus does not have (should stay empty).
        "unknown_fields": sorted(status.numbers() - STATUS_FIELDS),
    }


class StigmerServer:
    """The double; use as a context manager or call `start()` / `stop()`."""

    def __init__(
        self,
        *,
        sessions: Registry | None = None,
        agent_instances: Registry | None = None,
        agents: Registry | None = None,
        skills: Registry | None = None,
        environments: Registry | None = None,
        artifacts: dict[str, bytes] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
    ) -> None:
        self.sessions = sessions if sessions is not None else {}
        self.agent_instances = agent_instances if agent_instances is not None else {}
        self.agents = agents if agents is not None else {}
        self.skills = skills if skills is not None else {}  # keyed by slug
        self.environments = environments if environments is not None else {}  # slug -> data
        self.artifacts = artifacts if artifacts is not None else {}
        self.host = host
        self.port = port
        self.api_key = api_key
        self.calls: list[Call] = []
        self.status_updates: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._failures: list[tuple[str | None, grpc.StatusCode, str]] = []
        self._server: grpc.Server | None = None
        self._pool: futures.ThreadPoolExecutor | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """`host:port` for STIGMER_BACKEND_ENDPOINT (loopback when bound to all addresses)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{host}:{self.port}"

    def start(self) -> StigmerServer:
        """Serve; after a stop, on the same port again."""
        if self._server is not None:
            return self
        self._pool = futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="stigmer-double")
        server = grpc.server(self._pool)
        server.add_generic_rpc_handlers(self._generic_handlers())
        bound = server.add_insecure_port(f"{self.host}:{self.port}")
        if bound == 0:
            raise RuntimeError(f"the Stigmer double could not bind {self.host}:{self.port}")
        self.port = bound
        server.start()
        self._server = server
        return self

    def stop(self, grace: float | None = None) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace).wait()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> StigmerServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------
    def fail_next(
        self,
        count: int = 1,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        details: str = "injected by the Stigmer test double",
        method: str | None = None,
    ) -> None:
        """The next `count` calls (of `method`, e.g. "SessionQueryController/get") fail."""
        with self._lock:
            self._failures.extend([(method, code, details)] * count)

    def wait_for_status_updates(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until at least `count` updateStatus calls arrived (for out-of-process runners)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.status_updates) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self.status_updates)} of {count} updateStatus calls in {timeout}s"
                    )
                self._lock.wait(left)
            return list(self.status_updates)

    # -- handlers ----------------------------------------------------------------------
    def _generic_handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        services: dict[str, dict[str, _Handler]] = {
            SESSION_QUERY: {"get": self._get_session},
            AGENT_INSTANCE_QUERY: {"get": self._get_agent_instance},
            AGENT_QUERY: {"get": self._get_agent},
            SKILL_QUERY: {
                "get": self._get_skill,
                "getByReference": self._get_skill_by_reference,
                "getArtifact": self._get_artifact,
            },
            ENVIRONMENT_QUERY: {"getByReference": self._get_environment_by_reference},
            EXECUTION_COMMAND: {"updateStatus": self._update_status},
        }
        return tuple(
            grpc.method_handlers_generic_handler(
                service,
                {
                    name: grpc.unary_unary_rpc_method_handler(self._serve(service, name, fn))
                    for name, fn in methods.items()
                },
            )
            for service, methods in services.items()
        )

    def _serve(
        self, service: str, name: str, handler: _Handler
    ) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        # No (de)serializers are registered, so gRPC hands over and takes raw bytes.
        short = f"{service.rsplit('.', 1)[-1]}/{name}"

        def serve(request: bytes, context: grpc.ServicerContext) -> bytes:
            auth = next(
                (str(v) for k, v in context.invocation_metadata() if k == "authorization"), None
            )
            with self._lock:
                self.calls.append(Call(f"/{service}/{name}", auth))
                failure = next((f for f in self._failures if f[0] is None or f[0] == short), None)
                if failure is not None:
                    self._failures.remove(failure)
            if failure is not None:
                context.abort(failure[1], failure[2])
            if self.api_key is not None and auth != f"Bearer {self.api_key}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API key")
            try:
                return handler(request)
            except _Abort as abort:
                context.abort(abort.code, abort.details)

        return serve

    @staticmethod
    def _find(registry: Registry, key: str, what: str) -> dict[str, Any]:
        if key not in registry:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"{what} {key!r} not found")
        return registry[key]

    def _get_session(self, request: bytes) -> bytes:
        session_id = pw.decode(request).text(ID_VALUE)
        data = self._find(self.sessions, session_id, "session")
        spec = pw.message(
            pw.string(SESSION_AGENT_INSTANCE_ID, str(data["agent_instance_id"])),
            pw.string(SESSION_SUBJECT, str(data.get("subject", ""))),
            pw.string(SESSION_THREAD_ID, str(data.get("thread_id", ""))),
            pw.string(SESSION_SANDBOX_ID, str(data.get("sandbox_id", ""))),
        )
        return _resource("Session", _metadata(session_id, session_id, session_id), spec)

    def _get_agent_instance(self, request: bytes) -> bytes:
        instance_id = pw.decode(request).text(ID_VALUE)
        data = self._find(self.agent_instances, instance_id, "agent instance")
        spec = pw.message(
            pw.string(INSTANCE_AGENT_ID, str(data["agent_id"])),
            pw.string(INSTANCE_DESCRIPTION, str(data.get("description", ""))),
            pw.repeated(
                INSTANCE_ENVIRONMENT_REFS,
                (_reference(r, KIND_ENVIRONMENT) for r in data.get("environment_refs", [])),
            ),
        )
        return _resource("AgentInstance", _metadata(instance_id, instance_id, instance_id), spec)

    def _get_agent(self, request: bytes) -> bytes:
        agent_id = pw.decode(request).text(ID_VALUE)
        data = self._find(self.agents, agent_id, "agent")
        spec = pw.message(
            pw.string(AGENT_DESCRIPTION, str(data.get("description", ""))),
            pw.string(AGENT_INSTRUCTIONS, str(data.get("instructions", ""))),
            pw.repeated(
                AGENT_SKILL_REFS, (_reference(r, KIND_SKILL) for r in data.get("skill_refs", []))
            ),
            pw.nested(AGENT_ENV_SPEC, _env_spec(data["env"])) if "env" in data else b"",
        )
        status = pw.string(
            AGENT_STATUS_DEFAULT_INSTANCE_ID, str(data.get("default_instance_id", ""))
        )
        name = str(data.get("name", agent_id))
        return _resource("Agent", _metadata(agent_id, name, name), spec, status)

    def _skill(self, slug: str, data: Mapping[str, Any]) -> bytes:
        spec = pw.message(
            pw.string(SKILL_MD, str(data.get("skill_md", ""))),
            pw.string(SKILL_TAG, str(data.get("tag", ""))),
        )
        status = pw.message(
            pw.string(SKILL_VERSION_HASH, str(data.get("version_hash", ""))),
            pw.string(SKILL_ARTIFACT_KEY, str(data.get("artifact_key", ""))),
            pw.varint(SKILL_STATE, SKILL_STATE_READY),
        )
        skill_id = str(data.get("id", f"skl_{slug}"))
        return _resource(
            "Skill", _metadata(skill_id, str(data.get("name", slug)), slug), spec, status
        )

    def _get_skill(self, request: bytes) -> bytes:
        skill_id = pw.decode(request).text(ID_VALUE)
        for slug, data in self.skills.items():
            if str(data.get("id", f"skl_{slug}")) == skill_id:
                return self._skill(slug, data)
        raise _Abort(grpc.StatusCode.NOT_FOUND, f"skill {skill_id!r} not found")

    def _get_skill_by_reference(self, request: bytes) -> bytes:
        ref = _decode_reference(pw.decode(request))
        data = self._find(self.skills, ref["slug"], "skill")
        wanted = ref["version"]
        if wanted not in ("", "latest") and wanted not in (
            data.get("tag"),
            data.get("version_hash"),
        ):
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"skill {ref['slug']!r}@{wanted} not found")
        return self._skill(ref["slug"], data)

    def _get_artifact(self, request: bytes) -> bytes:
        key = pw.decode(request).text(ARTIFACT_REQUEST_KEY)
        if key not in self.artifacts:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"artifact {key!r} not found")
        return pw.length_delimited(ARTIFACT_RESPONSE_ARTIFACT, self.artifacts[key], always=True)

    def _get_environment_by_reference(self, request: bytes) -> bytes:
        slug = _decode_reference(pw.decode(request))["slug"]
        data = self._find(self.environments, slug, "environment")
        metadata = _metadata(f"env_{slug}", slug, slug)
        return _resource("Environment", metadata, _env_spec(data))

    def _update_status(self, request: bytes) -> bytes:
        update = pw.decode(request)
        execution_id = update.text(UPDATE_EXECUTION_ID)
        status_bytes = update.blob(UPDATE_STATUS)
        record = {"execution_id": execution_id, **_decode_status(pw.decode(status_bytes))}
        with self._lock:
            self.status_updates.append(record)
            self._lock.notify_all()
        # Upstream answers with the whole execution; its id and the status will do.
        return pw.message(
            pw.nested(EXECUTION_METADATA, pw.string(META_ID, execution_id)),
            pw.nested(EXECUTION_STATUS, status_bytes),
        )
