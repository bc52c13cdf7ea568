"""The Go-workflow double's own contract: payload encodings and the strict protojson decoder."""

from __future__ import annotations

import ast
import copy
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import temporalio.converter
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue

from tests.support import stigmer_workflow as sw

FIXTURES = sorted(p.stem for p in sw.FIXTURES.glob("execution_*.json"))


def status_json(**changes: Any) -> dict[str, Any]:
    status: dict[str, Any] = json.loads((sw.FIXTURES / "status_completed.json").read_text())
    status.update(changes)
    return status


def status_payload(data: Any, **metadata: bytes) -> Payload:
    meta = {"encoding": b"json/protobuf", "messageType": sw.STATUS_TYPE.encode(), **metadata}
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Payload(metadata=meta, data=raw)


# --- fixtures are upstream-shaped -----------------------------------------------------------


def test_the_three_required_fixtures_exist() -> None:
    assert {
        "execution_with_session",
        "execution_without_session",
        "execution_with_runtime_env",
    } <= set(FIXTURES)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_fixture_is_what_go_protojson_writes(fixture: str) -> None:
    """Decoding and re-marshalling (Go's default: no empty fields) changes nothing."""
    text = (sw.FIXTURES / f"{fixture}.json").read_text()
    assert sw.decode_message("AgentExecution", text) == json.loads(text)
    execution = json.loads(text)
    assert re.fullmatch(r"aex-[0-9a-z]{26}", execution["metadata"]["id"])
    assert execution["metadata"]["org"]
    assert execution["spec"]["agentId"]
    assert execution["spec"]["message"]


def test_fixture_shapes() -> None:
    with_session = sw.load_execution("execution_with_session")["spec"]
    assert with_session["sessionId"].startswith("ses-")
    assert with_session["executionConfig"]["modelName"]
    assert "write" in with_session["message"].lower()
    assert "sessionId" not in sw.load_execution("execution_without_session")["spec"]
    env = sw.load_execution("execution_with_runtime_env")["spec"]["runtimeEnv"]
    assert env["DEPLOY_TOKEN"] == {"value": "tok-not-a-real-secret", "isSecret": True}
    assert env["DEPLOY_REGION"] == {"value": "eu-west-1"}


def test_status_fixture_decodes_with_every_message_in_the_table() -> None:
    decoded = sw.decode_message("AgentExecutionStatus", json.dumps(status_json()))
    assert decoded == status_json()  # nothing in it is a default, so nothing is dropped


# --- the strict decoder -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (lambda s: s.update(finalMessage="x"), "unknown field 'finalMessage'"),
        (lambda s: s["messages"][1]["toolCalls"][0].update(output="x"), "unknown field 'output'"),
        (
            lambda s: s["messages"][1]["toolCalls"][0]["componentMetadata"].update(kind="x"),
            "unknown field 'kind' in ComponentMetadata",
        ),
        (lambda s: s["subAgentExecutions"][0].update(steps=1), "in SubAgentExecution"),
        (lambda s: s["todos"]["todo-1"].update(priority=1), "in TodoItem"),
        (lambda s: s["audit"]["statusAudit"].update(actor="x"), "in ApiResourceAuditInfo"),
        (lambda s: s["audit"].update(auditInfo={}), "in ApiResourceAudit"),
        (lambda s: s["audit"]["statusAudit"].update(createdBy={"name": "x"}), "AuditActor"),
        (lambda s: s.update(phase="COMPLETED"), "not a value of ExecutionPhase"),
        (lambda s: s.update(phase="completed"), "not a value of ExecutionPhase"),
        (lambda s: s.update(phase=True), "ExecutionPhase must be"),
        (lambda s: s.update(phase=2**31), "ExecutionPhase must be"),
        (lambda s: s["messages"][0].update(type="human"), "not a value of MessageType"),
        (lambda s: s["toolCalls"][0].update(status="done"), "ToolCallStatus"),
        (lambda s: s["todos"]["todo-1"].update(status="TODO_DONE"), "TodoStatus"),
        (lambda s: s["subAgentExecutions"][0].update(status="ok"), "SubAgentStatus"),
        (lambda s: s.update(messages={"0": {}}), "must be a JSON array"),
        (lambda s: s.update(todos=[]), "must be a JSON object"),
        (lambda s: s.update(error=7), "string field got JSON int"),
        (lambda s: s.update(messages=[None]), "AgentMessage must be a JSON object"),
        (lambda s: s["toolCalls"][0].update(args="path=x"), "Struct field got JSON str"),
        (lambda s: s["audit"]["statusAudit"].update(updatedAt="yesterday"), "RFC 3339"),
        (lambda s: s["audit"]["statusAudit"].update(updatedAt="2026-01-26 10:15:41Z"), "3339"),
        (lambda s: s.update(callbackToken="not base64!"), "not base64"),
    ],
)
def test_a_status_go_would_refuse_is_refused(mutate: Any, complaint: str) -> None:
    status = status_json()
    mutate(status)
    with pytest.raises(sw.GoDecodeError, match=re.escape(complaint)):
        sw.decode_message("AgentExecutionStatus", json.dumps(status))


def test_duplicate_keys_and_non_json_are_refused() -> None:
    with pytest.raises(sw.GoDecodeError, match="duplicate JSON key 'phase'"):
        sw.decode_message("AgentExecutionStatus", '{"phase": 3, "phase": 4}')
    with pytest.raises(sw.GoDecodeError, match="given twice"):
        sw.decode_message("AgentExecutionStatus", '{"startedAt": "a", "started_at": "b"}')
    with pytest.raises(sw.GoDecodeError, match="not JSON"):
        sw.decode_message("AgentExecutionStatus", "phase: 3")
    with pytest.raises(sw.GoDecodeError, match="must be a JSON object"):
        sw.decode_message("AgentExecutionStatus", "[]")


def test_what_go_accepts_is_accepted_in_go_form() -> None:
    """Proto names, enum numbers, nulls, URL-safe base64: accepted, and normalised as Go does."""
    data = {
        "phase": 3,
        "tool_calls": [{"name": "ls", "status": 7, "args": {}, "component_metadata": {}}],
        "sub_agent_executions": [],
        "error": "",
        "startedAt": None,
        "todos": {"t": {"status": 0}},
        "callback_token": "-_8",
        "messages": [{"type": "MESSAGE_AI", "content": "hi", "toolCalls": []}],
    }
    assert sw.decode_message("AgentExecutionStatus", json.dumps(data)) == {
        "phase": "EXECUTION_COMPLETED",
        "toolCalls": [{"name": "ls", "status": 7, "args": {}, "componentMetadata": {}}],
        "todos": {"t": {}},
        "callbackToken": "+/8=",
        "messages": [{"type": "MESSAGE_AI", "content": "hi"}],
    }


def test_decode_status_checks_the_envelope() -> None:
    good = status_json()
    assert sw.decode_status(status_payload(good)) == good
    assert sw.decode_status(None) is None
    assert sw.decode_status(Payload(metadata={"encoding": b"binary/null"})) is None
    assert sw.decode_status(status_payload(b"null")) is None
    with pytest.raises(sw.GoDecodeError, match="expects json/protobuf, got 'json/plain'"):
        sw.decode_status(status_payload(good, encoding=b"json/plain"))
    with pytest.raises(sw.GoDecodeError, match="messageType is 'AgentExecutionStatus'"):
        sw.decode_status(status_payload(good, messageType=b"AgentExecutionStatus"))
    no_type = status_payload(good)
    del no_type.metadata["messageType"]
    with pytest.raises(sw.GoDecodeError, match="messageType is ''"):
        sw.decode_status(no_type)
    with pytest.raises(sw.GoDecodeError, match="unknown field 'status'"):
        sw.decode_status(status_payload({"status": "completed"}))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (Payload(metadata={"encoding": b"json/plain"}, data=b'"thread-ses-1"'), "thread-ses-1"),
        (Payload(metadata={"encoding": b"json/plain"}, data=b'"\\u003c\xc3\xa9"'), "<\u00e9"),
    ],
)
def test_decode_string_accepts_a_json_string(payload: Payload, expected: str) -> None:
    assert sw.decode_string(payload, "EnsureThread") == expected


@pytest.mark.parametrize(
    "payload",
    [
        None,
        Payload(metadata={"encoding": b"binary/null"}),
        Payload(metadata={"encoding": b"json/plain"}, data=b"null"),
        Payload(metadata={"encoding": b"json/plain"}, data=b'{"thread_id": "t"}'),
        Payload(metadata={"encoding": b"json/plain"}, data=b"thread-1"),
        Payload(metadata={"encoding": b"json/protobuf"}, data=b'"thread-1"'),
    ],
    ids=["absent", "binary-null", "json-null", "object", "bare-text", "protobuf"],
)
def test_decode_string_refuses_anything_else(payload: Payload | None) -> None:
    with pytest.raises(sw.GoDecodeError, match="EnsureThread"):
        sw.decode_string(payload, "EnsureThread")


# --- what the workflow sends ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("ses-01", b'"ses-01"'),
        ("", b'""'),
        ("a<b>&c", b'"a\\u003cb\\u003e\\u0026c"'),
        ("caf\u00e9 \u2028", '"caf\u00e9 \\u2028"'.encode()),
    ],
)
def test_string_payload_is_go_json_plain(text: str, data: bytes) -> None:
    payload = sw.string_payload(text)
    assert dict(payload.metadata) == {"encoding": b"json/plain"}
    assert payload.data == data
    assert json.loads(payload.data) == text


@pytest.mark.parametrize("fixture", FIXTURES)
def test_execution_payload_is_go_json_protobuf(fixture: str) -> None:
    execution = sw.load_execution(fixture)
    payload = sw.execution_payload(execution)
    assert dict(payload.metadata) == {
        "encoding": b"json/protobuf",
        "messageType": b"ai.stigmer.agentic.agentexecution.v1.AgentExecution",
    }
    assert json.loads(payload.data) == execution
    assert b": " not in payload.data  # compact, as protojson writes it


def test_execution_payload_writes_go_form_and_refuses_unknown_keys() -> None:
    execution = sw.load_execution("execution_with_session")
    execution["spec"]["sessionId"] = ""
    execution["spec"]["runtimeEnv"] = {}
    execution["status"]["phase"] = "EXECUTION_PHASE_UNSPECIFIED"
    data = json.loads(sw.execution_payload(execution).data)
    assert "sessionId" not in data["spec"]
    assert "runtimeEnv" not in data["spec"]
    assert "phase" not in data["status"]
    execution["spec"]["session_id_typo"] = "x"
    with pytest.raises(sw.GoDecodeError, match="unknown field 'session_id_typo'"):
        sw.execution_payload(execution)


def test_raw_values_reach_the_wire_unchanged() -> None:
    """The SDK must not re-encode our payloads: what Go would send is what the runner gets."""
    converter = temporalio.converter.default().payload_converter
    payloads = [
        sw.string_payload("ses-1"),
        sw.execution_payload(sw.load_execution("execution_with_runtime_env")),
    ]
    assert converter.to_payloads([RawValue(p) for p in payloads]) == payloads
    back = converter.from_payloads(payloads, [RawValue, RawValue])
    assert [v.payload for v in back] == payloads


def test_load_execution_overrides() -> None:
    execution = sw.load_execution(
        "execution_with_session",
        execution_id="aex-x",
        session_id="",
        agent_id="agt-y",
        message="go",
        model_name="m1",
        runtime_env={"A": {"value": "1"}},
    )
    spec = execution["spec"]
    assert execution["metadata"]["id"] == "aex-x"
    assert "sessionId" not in spec
    assert (spec["agentId"], spec["message"]) == ("agt-y", "go")
    assert spec["executionConfig"] == {"modelName": "m1"}
    assert spec["runtimeEnv"] == {"A": {"value": "1"}}
    pristine = sw.load_execution("execution_with_session")
    cleared = sw.load_execution("execution_with_session", model_name="")
    assert "modelName" not in cleared["spec"]["executionConfig"]
    untouched = copy.deepcopy(pristine)
    assert sw.load_execution("execution_with_session") == untouched


def test_new_id_looks_like_upstreams() -> None:
    ids = {sw.new_id("aex") for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"aex-[0-9a-hjkmnp-tv-z]{26}", i) for i in ids)


def test_names_queues_and_options_are_upstreams() -> None:
    assert sw.WORKFLOW_NAME == "stigmer/agent-execution/invoke"
    assert sw.WORKFLOW_TASK_QUEUE == "agent_execution_stigmer"
    assert sw.DEFAULT_ACTIVITY_TASK_QUEUE == "agent_execution_runner"
    assert sw.ACTIVITY_QUEUE_MEMO_KEY == "activityTaskQueue"
    ensure, execute = sw.ENSURE_THREAD_OPTIONS, sw.EXECUTE_GRAPHTON_OPTIONS
    assert ensure["start_to_close_timeout"] == timedelta(seconds=30)
    assert ensure["schedule_to_start_timeout"] == timedelta(minutes=1)
    assert ensure["retry_policy"].maximum_attempts == 3
    assert "heartbeat_timeout" not in ensure
    assert execute["start_to_close_timeout"] == timedelta(minutes=10)
    assert execute["schedule_to_start_timeout"] == timedelta(minutes=1)
    assert execute["heartbeat_timeout"] == timedelta(seconds=30)
    assert execute["retry_policy"].maximum_attempts == 1


def test_the_double_knows_nothing_of_the_runner() -> None:
    tree = ast.parse(Path(sw.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not [m for m in imported if m.split(".")[0] == "agent_runner"]
