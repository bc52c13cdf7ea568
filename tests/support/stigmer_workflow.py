"""A double of Stigmer's Go workflow that calls agent-runner's activities.

Over 400 lines on purpose: the upstream message table, the strict decoder that uses it and the
workflow that applies it belong together; split, each part would be unreadable alone.

Built from upstream's facts (stigmer/stigmer at b070f18: the Go workflow under
``backend/services/stigmer-server/pkg/domain/agentexecution/temporal/``, the protos under
``apis/ai/stigmer/``, and the Go SDK v1.39 default data converter), never from agent_runner's
types, which it does not import:

* workflow ``stigmer/agent-execution/invoke`` on queue ``agent_execution_stigmer``, started
  with the AgentExecution as its one argument and the runner's queue in memo
  ``activityTaskQueue`` (default ``agent_execution_runner``);
* ``EnsureThread(session_id, agent_id)`` then ``ExecuteGraphton(execution, thread_id)`` with
  upstream's activity options, every argument a pre-encoded payload as Go's converter writes
  it (strings ``json/plain``, messages ``json/protobuf`` + ``messageType``);
* results decoded the way Go's protojson does: every key must be a field of the upstream
  message (JSON or proto name), values of the field's JSON type, enums by name or number.

Deliberate differences, none visible to the runner: the workflow returns what it decoded (Go
returns nothing) so tests can assert on it; the messageType of the status is required (Go
ignores it); a ``null`` thread id is refused (Go would read ""). Upstream's failure path
(a local UpdateExecutionStatus activity and the callback-token completion) runs inside the
Go server and never reaches the runner, so it is left out. Upstream has no workflow calling
``CleanupSandbox``; ``CleanupSandboxWorkflow`` below is ours and calls it as Go would.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

WORKFLOW_NAME = "stigmer/agent-execution/invoke"
WORKFLOW_TASK_QUEUE = "agent_execution_stigmer"
DEFAULT_ACTIVITY_TASK_QUEUE = "agent_execution_runner"
ACTIVITY_QUEUE_MEMO_KEY = "activityTaskQueue"
CLEANUP_WORKFLOW_NAME = "stigmer-test/cleanup-sandbox"  # ours: upstream never calls it
EXECUTION_TYPE = "ai.stigmer.agentic.agentexecution.v1.AgentExecution"
STATUS_TYPE = "ai.stigmer.agentic.agentexecution.v1.AgentExecutionStatus"
FIXTURES = Path(__file__).parent / "fixtures"

# Upstream's workflow run timeout and activity options (workflow_creator.go, activities/*.go).
WORKFLOW_RUN_TIMEOUT = timedelta(minutes=10)
ENSURE_THREAD_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "schedule_to_start_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(
        maximum_attempts=3, initial_interval=timedelta(seconds=5), backoff_coefficient=2.0
    ),
}
EXECUTE_GRAPHTON_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=10),
    "schedule_to_start_timeout": timedelta(minutes=1),
    "heartbeat_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        maximum_attempts=1, initial_interval=timedelta(seconds=10), backoff_coefficient=2.0
    ),
}
CLEANUP_SANDBOX_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "schedule_to_start_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(maximum_attempts=1),
}

# ---------------------------------------------------------------------------------------------
# Upstream's messages, as lowerCamelCase JSON names -> field type. Types: "string", "bool",
# "bytes", "Struct" (google.protobuf.Struct), "Timestamp", an enum or message name below,
# "[]T" (repeated) and "map[string]T". Written by hand from upstream's api.proto, spec.proto,
# metadata.proto, status.proto and executioncontext spec.proto.
MESSAGES: dict[str, dict[str, str]] = {
    "AgentExecution": {
        "apiVersion": "string",
        "kind": "string",
        "metadata": "ApiResourceMetadata",
        "spec": "AgentExecutionSpec",
        "status": "AgentExecutionStatus",
    },
    "AgentExecutionSpec": {
        "sessionId": "string",
        "agentId": "string",
        "message": "string",
        "executionConfig": "ExecutionConfig",
        "runtimeEnv": "map[string]ExecutionValue",
        "callbackToken": "bytes",
    },
    "ExecutionConfig": {"modelName": "string"},
    "ExecutionValue": {"value": "string", "isSecret": "bool"},
    "ApiResourceMetadata": {
        "name": "string",
        "slug": "string",
        "id": "string",
        "org": "string",
        "ownerScope": "ApiResourceOwnerScope",
        "labels": "map[string]string",
        "annotations": "map[string]string",
        "tags": "[]string",
        "version": "ApiResourceMetadataVersion",
    },
    "ApiResourceMetadataVersion": {
        "id": "string",
        "message": "string",
        "previousVersionId": "string",
    },
    "AgentExecutionStatus": {
        "audit": "ApiResourceAudit",
        "messages": "[]AgentMessage",
        "phase": "ExecutionPhase",
        "toolCalls": "[]ToolCall",
        "subAgentExecutions": "[]SubAgentExecution",
        "error": "string",
        "startedAt": "string",
        "completedAt": "string",
        "todos": "map[string]TodoItem",
        "callbackToken": "bytes",
    },
    "TodoItem": {
        "id": "string",
        "content": "string",
        "status": "TodoStatus",
        "createdAt": "string",
        "updatedAt": "string",
    },
    "AgentMessage": {
        "type": "MessageType",
        "content": "string",
        "timestamp": "string",
        "toolCalls": "[]ToolCall",
        "metadata": "Struct",
    },
    "ToolCall": {
        "id": "string",
        "name": "string",
        "args": "Struct",
        "result": "string",
        "status": "ToolCallStatus",
        "componentMetadata": "ComponentMetadata",
        "startedAt": "string",
        "completedAt": "string",
        "error": "string",
    },
    "ComponentMetadata": {
        "componentType": "string",
        "componentGroup": "string",
        "layoutHint": "string",
        "metadata": "Struct",
    },
    "SubAgentExecution": {
        "id": "string",
        "name": "string",
        "input": "string",
        "output": "string",
        "status": "SubAgentStatus",
        "startedAt": "string",
        "completedAt": "string",
        "error": "string",
        "metadata": "Struct",
    },
    "ApiResourceAudit": {
        "specAudit": "ApiResourceAuditInfo",
        "statusAudit": "ApiResourceAuditInfo",
    },
    "ApiResourceAuditInfo": {
        "createdBy": "ApiResourceAuditActor",
        "createdAt": "Timestamp",
        "updatedBy": "ApiResourceAuditActor",
        "updatedAt": "Timestamp",
        "event": "string",
    },
    "ApiResourceAuditActor": {"id": "string", "avatar": "string"},
}

# Enum value names in number order (index == number), from upstream's enum.proto files.
ENUMS: dict[str, tuple[str, ...]] = {
    "ExecutionPhase": (
        "EXECUTION_PHASE_UNSPECIFIED",
        "EXECUTION_PENDING",
        "EXECUTION_IN_PROGRESS",
        "EXECUTION_COMPLETED",
        "EXECUTION_FAILED",
        "EXECUTION_CANCELLED",
    ),
    "MessageType": (
        "MESSAGE_TYPE_UNSPECIFIED",
        "MESSAGE_HUMAN",
        "MESSAGE_AI",
        "MESSAGE_TOOL",
        "MESSAGE_SYSTEM",
    ),
    "ToolCallStatus": (
        "TOOL_CALL_STATUS_UNSPECIFIED",
        "TOOL_CALL_PENDING",
        "TOOL_CALL_RUNNING",
        "TOOL_CALL_COMPLETED",
        "TOOL_CALL_FAILED",
    ),
    "TodoStatus": (
        "TODO_STATUS_UNSPECIFIED",
        "TODO_PENDING",
        "TODO_IN_PROGRESS",
        "TODO_COMPLETED",
        "TODO_CANCELLED",
    ),
    "SubAgentStatus": (
        "SUB_AGENT_STATUS_UNSPECIFIED",
        "SUB_AGENT_PENDING",
        "SUB_AGENT_IN_PROGRESS",
        "SUB_AGENT_COMPLETED",
        "SUB_AGENT_FAILED",
    ),
    "ApiResourceOwnerScope": (
        "api_resource_owner_scope_unspecified",
        "platform",
        "organization",
        "identity_account",
    ),
}

_INT32 = range(-(2**31), 2**31)
# RFC 3339 as protojson reads a Timestamp: 'T', up to 9 fraction digits, 'Z' or an offset.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)\Z")


class GoDecodeError(ValueError):
    """A payload the Go workflow could not decode (the message says where and why)."""


def _proto_name(json_name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), json_name)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise GoDecodeError(f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def _decode(type_name: str, value: Any, where: str) -> Any:
    """Check ``value`` as protojson of ``type_name``; return it as Go would re-marshal it."""
    if type_name.startswith("[]"):
        if not isinstance(value, list):
            raise GoDecodeError(f"{where}: a repeated field must be a JSON array")
        return [_decode(type_name[2:], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if type_name.startswith("map[string]"):
        if not isinstance(value, dict):
            raise GoDecodeError(f"{where}: a map field must be a JSON object")
        inner = type_name.removeprefix("map[string]")
        return {k: _decode(inner, v, f"{where}[{k!r}]") for k, v in value.items()}
    if type_name in MESSAGES:
        return _decode_message(type_name, value, where)
    if type_name in ENUMS:
        return _decode_enum(type_name, value, where)
    expected = {"string": str, "bool": bool, "bytes": str, "Timestamp": str, "Struct": dict}
    if type_name not in expected:
        raise AssertionError(f"type {type_name!r} is missing from the table")
    if not isinstance(value, expected[type_name]):
        raise GoDecodeError(f"{where}: {type_name} field got JSON {type(value).__name__}")
    if type_name == "bytes":
        return _canonical_bytes(str(value), where)
    if type_name == "Timestamp" and not _TIMESTAMP.match(str(value)):
        raise GoDecodeError(f"{where}: {value!r} is not an RFC 3339 timestamp")
    return value


def _decode_enum(type_name: str, value: Any, where: str) -> str | int:
    names = ENUMS[type_name]
    if isinstance(value, str):
        if value not in names:
            raise GoDecodeError(f"{where}: {value!r} is not a value of {type_name}")
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value in _INT32:
        # Proto3 enums are open: Go keeps an unknown number and writes it back as a number.
        return names[value] if 0 <= value < len(names) else value
    raise GoDecodeError(f"{where}: {type_name} must be a value name or an int32 number")


def _canonical_bytes(value: str, where: str) -> str:
    padded = value + "=" * (-len(value) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error as error:
        raise GoDecodeError(f"{where}: bytes field is not base64") from error
    return base64.b64encode(raw).decode()


def _is_default(type_name: str, value: Any) -> bool:
    """Go's protojson (no EmitUnpopulated) drops zero scalars and empty lists and maps."""
    if type_name in ENUMS:
        return bool(value == ENUMS[type_name][0] or value == 0)
    if type_name in MESSAGES or type_name == "Struct" or type_name == "Timestamp":
        return False  # messages have presence: an empty one is still written
    return bool(value in ("", False, [], {}))


def _decode_message(name: str, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GoDecodeError(f"{where}: {name} must be a JSON object")
    fields = MESSAGES[name]
    by_proto_name = {_proto_name(k): k for k in fields}
    out: dict[str, Any] = {}
    for key, item in value.items():
        json_name = key if key in fields else by_proto_name.get(key)
        if json_name is None:
            raise GoDecodeError(
                f"{where}: unknown field {key!r} in {name}; Go's protojson refuses it "
                f"(fields: {', '.join(fields)})"
            )
        if json_name in out:
            raise GoDecodeError(f"{where}: field {key!r} given twice")
        if item is None:
            continue  # protojson reads null as "not set"
        decoded = _decode(fields[json_name], item, f"{where}.{key}")
        if not _is_default(fields[json_name], decoded):
            out[json_name] = decoded
    return out


def decode_message(message: str, data: bytes | str) -> dict[str, Any]:
    """Strictly decode protojson ``data`` as upstream ``message`` (a key of MESSAGES)."""
    try:
        value = json.loads(data, object_pairs_hook=_reject_duplicates)
    except ValueError as error:
        if isinstance(error, GoDecodeError):
            raise
        raise GoDecodeError(f"{message}: not JSON: {error}") from error
    return _decode_message(message, value, message)


def _encoding(payload: Payload) -> str | None:
    raw = payload.metadata.get("encoding")
    return None if raw is None else raw.decode()


def string_payload(text: str) -> Payload:
    """A string as Go's JSON converter writes it (json.Marshal escapes <, >, & and U+2028/9)."""
    data = json.dumps(text, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        data = data.replace(char, escaped)
    data = data.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Payload(metadata={"encoding": b"json/plain"}, data=data.encode())


def execution_payload(execution: Mapping[str, Any]) -> Payload:
    """An AgentExecution as Go's protojson converter writes it (checked against the table)."""
    canonical = _decode_message("AgentExecution", dict(execution), "AgentExecution")
    return Payload(
        metadata={"encoding": b"json/protobuf", "messageType": EXECUTION_TYPE.encode()},
        data=json.dumps(canonical, separators=(",", ":"), ensure_ascii=False).encode(),
    )


def decode_string(payload: Payload | None, what: str) -> str:
    """A ``string`` result: ``json/plain`` holding a JSON string, nothing else."""
    if payload is None or _encoding(payload) != "json/plain":
        got = None if payload is None else _encoding(payload)
        raise GoDecodeError(f"{what}: Go expects a json/plain string, got encoding {got!r}")
    try:
        value = json.loads(payload.data)
    except ValueError as error:
        raise GoDecodeError(f"{what}: json/plain data is not JSON: {error}") from error
    if not isinstance(value, str):
        raise GoDecodeError(f"{what}: Go expects a JSON string, got {payload.data[:200]!r}")
    return value


def decode_status(payload: Payload | None) -> dict[str, Any] | None:
    """ExecuteGraphton's result, or None when it is null (Go then fails the workflow)."""
    if payload is None or _encoding(payload) == "binary/null":
        return None
    if _encoding(payload) != "json/protobuf":
        raise GoDecodeError(
            f"AgentExecutionStatus: Go expects json/protobuf, got {_encoding(payload)!r}"
        )
    message_type = payload.metadata.get("messageType", b"").decode()
    if message_type != STATUS_TYPE:
        raise GoDecodeError(f"AgentExecutionStatus: messageType is {message_type!r}")
    if payload.data.strip() == b"null":
        return None
    return decode_message("AgentExecutionStatus", payload.data)


def _raw_payload(value: RawValue | None) -> Payload | None:
    return None if value is None else value.payload


def _failure(message: str) -> ApplicationError:
    # Non-retryable: a Go workflow returning an error fails the execution, it is not replayed.
    # Raised ``from`` the original error, which Temporal then carries as the failure's cause.
    return ApplicationError(message, type="StigmerWorkflowFailed", non_retryable=True)


def _activity_queue() -> str:
    """The memo's queue, or upstream's default when it is absent, empty or not a string."""
    try:
        queue = workflow.memo_value(ACTIVITY_QUEUE_MEMO_KEY, None, type_hint=str)
    except Exception:  # Go ignores a memo it cannot decode
        queue = None
    return queue if isinstance(queue, str) and queue else DEFAULT_ACTIVITY_TASK_QUEUE


@workflow.defn(name=WORKFLOW_NAME)
class InvokeAgentExecutionWorkflow:
    @workflow.run
    async def run(self, execution: RawValue) -> dict[str, Any]:
        try:
            decoded = decode_message("AgentExecution", execution.payload.data)
        except GoDecodeError as error:
            raise _failure(f"workflow input is not an AgentExecution: {error}") from error
        spec = decoded.get("spec", {})
        queue = _activity_queue()
        session_id, agent_id = spec.get("sessionId", ""), spec.get("agentId", "")

        thread_result = await self._activity(
            "EnsureThread",
            [string_payload(session_id), string_payload(agent_id)],
            queue,
            ENSURE_THREAD_OPTIONS,
        )
        try:
            thread_id = decode_string(_raw_payload(thread_result), "EnsureThread result")
        except GoDecodeError as error:
            raise _failure(f"activity 'EnsureThread' failed: {error}") from error

        status_result = await self._activity(
            "ExecuteGraphton",
            [execution_payload(decoded), string_payload(thread_id)],
            queue,
            EXECUTE_GRAPHTON_OPTIONS,
        )
        try:
            status = decode_status(_raw_payload(status_result))
        except GoDecodeError as error:
            raise _failure(f"activity 'ExecuteGraphton' failed: {error}") from error
        if status is None:
            raise _failure("python activity returned null status - this should never happen")
        execution_id = decoded.get("metadata", {}).get("id", "")
        return {"executionId": execution_id, "threadId": thread_id, "status": status}

    async def _activity(
        self, name: str, args: list[Payload], queue: str, options: dict[str, Any]
    ) -> RawValue | None:
        try:
            result: RawValue | None = await workflow.execute_activity(
                name,
                args=[RawValue(p) for p in args],
                task_queue=queue,
                result_type=RawValue,
                **options,
            )
        except ActivityError as error:
            raise _failure(f"activity '{name}' failed: {error}") from error
        return result


@workflow.defn(name=CLEANUP_WORKFLOW_NAME)
class CleanupSandboxWorkflow:
    """Calls ``CleanupSandbox(sandbox_id)``; Go would ignore the result, we report its encoding."""

    @workflow.run
    async def run(self, sandbox_id: str, queue: str) -> dict[str, Any]:
        try:
            result: RawValue | None = await workflow.execute_activity(
                "CleanupSandbox",
                args=[RawValue(string_payload(sandbox_id))],
                task_queue=queue,
                result_type=RawValue,
                **CLEANUP_SANDBOX_OPTIONS,
            )
        except ActivityError as error:
            raise _failure(f"activity 'CleanupSandbox' failed: {error}") from error
        payload = _raw_payload(result)
        return {"resultEncoding": None if payload is None else _encoding(payload)}


# ---------------------------------------------------------------------------------------------
# Test-side helpers (outside the workflow sandbox).


@dataclass(frozen=True)
class DecodedResult:
    """What the workflow decoded: Go-protojson form (defaults dropped, enum names)."""

    execution_id: str
    thread_id: str
    status: dict[str, Any]

    @property
    def phase(self) -> str:
        phase = self.status.get("phase", ENUMS["ExecutionPhase"][0])
        return str(phase)

    @property
    def error(self) -> str:
        return str(self.status.get("error", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.status.get("messages", []))


_ULID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    """An id shaped like upstream's ``<prefix>-<lowercase ULID>`` (time part, then random)."""
    millis = int(time.time() * 1000)
    stamp = "".join(_ULID_ALPHABET[(millis >> (5 * i)) & 31] for i in reversed(range(10)))
    return f"{prefix}-{stamp}{''.join(secrets.choice(_ULID_ALPHABET) for _ in range(16))}"


def load_execution(
    fixture: str,
    *,
    execution_id: str | None = None,
    session_id: str | None = None,
    agent_id: str | None = None,
    message: str | None = None,
    model_name: str | None = None,
    runtime_env: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A fixture's AgentExecution JSON; an override of "" removes the field, as Go omits it."""
    execution: dict[str, Any] = json.loads((FIXTURES / f"{fixture}.json").read_text())
    spec = execution.setdefault("spec", {})
    targets: list[tuple[dict[str, Any], str, Any]] = [
        (execution.setdefault("metadata", {}), "id", execution_id),
        (spec, "sessionId", session_id),
        (spec, "agentId", agent_id),
        (spec, "message", message),
        (spec, "runtimeEnv", None if runtime_env is None else dict(runtime_env)),
    ]
    if model_name is not None:
        targets.append((spec.setdefault("executionConfig", {}), "modelName", model_name))
    for holder, key, value in targets:
        if value is None:
            continue
        if value in ("", {}):
            holder.pop(key, None)
        else:
            holder[key] = value
    return execution


def start_worker(
    client: Client, *, task_queue: str = WORKFLOW_TASK_QUEUE, sandboxed: bool = True
) -> Worker:
    """The Go server's side: host the workflows (use as ``async with start_worker(c):``).

    ``sandboxed=False`` runs them without the Python SDK's determinism sandbox, which the Go
    server does not have: it re-imports modules for every workflow run, and a benchmark
    sharing the host's CPU with the runners would measure that instead of the runners.
    """
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[InvokeAgentExecutionWorkflow, CleanupSandboxWorkflow],
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
    )


async def run_execution(
    client: Client,
    fixture: str,
    *,
    activity_task_queue: str | None = None,
    workflow_task_queue: str = WORKFLOW_TASK_QUEUE,
    **overrides: Any,
) -> DecodedResult:
    """Start the workflow as upstream's server does and wait for it (a worker must run).

    ``overrides`` go to ``load_execution``; a fresh execution id is used unless given.
    ``activity_task_queue`` None leaves the memo out (the workflow's default queue).
    Raises ``temporalio.client.WorkflowFailureError`` when the Go workflow would fail.
    """
    overrides.setdefault("execution_id", new_id("aex"))
    execution = load_execution(fixture, **overrides)
    memo = {} if activity_task_queue is None else {ACTIVITY_QUEUE_MEMO_KEY: activity_task_queue}
    result = await client.execute_workflow(
        WORKFLOW_NAME,
        RawValue(execution_payload(execution)),
        id=f"{WORKFLOW_NAME}/{execution['metadata']['id']}",
        task_queue=workflow_task_queue,
        run_timeout=WORKFLOW_RUN_TIMEOUT,
        memo=memo,
        result_type=dict,
    )
    return DecodedResult(
        execution_id=result["executionId"], thread_id=result["threadId"], status=result["status"]
    )


async def run_cleanup(
    client: Client,
    sandbox_id: str,
    *,
    activity_task_queue: str = DEFAULT_ACTIVITY_TASK_QUEUE,
    workflow_task_queue: str = WORKFLOW_TASK_QUEUE,
) -> str | None:
    """Call CleanupSandbox(sandbox_id); returns its result payload's encoding (None: absent)."""
    result = await client.execute_workflow(
        CLEANUP_WORKFLOW_NAME,
        args=[sandbox_id, activity_task_queue],
        id=f"{CLEANUP_WORKFLOW_NAME}/{new_id('cln')}",
        task_queue=workflow_task_queue,
        run_timeout=timedelta(minutes=2),
        result_type=dict,
    )
    encoding = result["resultEncoding"]
    return None if encoding is None else str(encoding)
