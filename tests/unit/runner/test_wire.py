"""Our wire types against upstream Stigmer's facts (stigmer/stigmer b070f18, apis/ai/stigmer).

Every expected name, number and JSON key below is written out from upstream's .proto files,
and the wire bytes are built with the test codec (tests/support/protowire.py), not with
our generated classes, so a drift on either side fails here. (Over 400 lines: mostly those
literal tables of upstream's names and numbers.)
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from agent_runner.wire import (
    agent_pb2,
    agentexecution_pb2,
    agentinstance_pb2,
    environment_pb2,
    session_pb2,
    skill_pb2,
)
from google.protobuf import descriptor_pool, json_format

from build_tools import protos
from tests.support import protowire as pw

ROOT = Path(__file__).resolve().parents[3]
POOL = descriptor_pool.Default()
AEX = "ai.stigmer.agentic.agentexecution.v1"
RES = "ai.stigmer.commons.apiresource"

# Upstream's services: method -> (request, response), full names.
SERVICES = {
    "ai.stigmer.agentic.session.v1.SessionQueryController": {
        "get": ("ai.stigmer.agentic.session.v1.SessionId", "ai.stigmer.agentic.session.v1.Session"),
    },
    "ai.stigmer.agentic.agentinstance.v1.AgentInstanceQueryController": {
        "get": (
            "ai.stigmer.agentic.agentinstance.v1.AgentInstanceId",
            "ai.stigmer.agentic.agentinstance.v1.AgentInstance",
        ),
        "getByReference": (
            f"{RES}.ApiResourceReference",
            "ai.stigmer.agentic.agentinstance.v1.AgentInstance",
        ),
    },
    "ai.stigmer.agentic.agent.v1.AgentQueryController": {
        "get": ("ai.stigmer.agentic.agent.v1.AgentId", "ai.stigmer.agentic.agent.v1.Agent"),
        "getByReference": (f"{RES}.ApiResourceReference", "ai.stigmer.agentic.agent.v1.Agent"),
    },
    "ai.stigmer.agentic.skill.v1.SkillQueryController": {
        "get": ("ai.stigmer.agentic.skill.v1.SkillId", "ai.stigmer.agentic.skill.v1.Skill"),
        "getByReference": (f"{RES}.ApiResourceReference", "ai.stigmer.agentic.skill.v1.Skill"),
        "getArtifact": (
            "ai.stigmer.agentic.skill.v1.GetArtifactRequest",
            "ai.stigmer.agentic.skill.v1.GetArtifactResponse",
        ),
    },
    "ai.stigmer.agentic.environment.v1.EnvironmentQueryController": {
        "get": (f"{RES}.ApiResourceId", "ai.stigmer.agentic.environment.v1.Environment"),
        "getByReference": (
            f"{RES}.ApiResourceReference",
            "ai.stigmer.agentic.environment.v1.Environment",
        ),
    },
    f"{AEX}.AgentExecutionCommandController": {
        "updateStatus": (f"{AEX}.AgentExecutionUpdateStatusInput", f"{AEX}.AgentExecution"),
    },
}

# Messages that must be whole (received as protojson, or sent and decoded strictly by Go):
# every field upstream has, name -> number.
WHOLE_MESSAGES = {
    f"{AEX}.AgentExecution": {"api_version": 1, "kind": 2, "metadata": 3, "spec": 4, "status": 5},
    f"{AEX}.AgentExecutionSpec": {
        "session_id": 1, "agent_id": 2, "message": 3, "execution_config": 4, "runtime_env": 5,
        "callback_token": 6,
    },
    f"{AEX}.ExecutionConfig": {"model_name": 1},
    f"{AEX}.AgentExecutionStatus": {
        "audit": 99, "messages": 1, "phase": 2, "tool_calls": 3, "sub_agent_executions": 4,
        "error": 6, "started_at": 7, "completed_at": 8, "todos": 9, "callback_token": 10,
    },
    f"{AEX}.TodoItem": {"id": 1, "content": 2, "status": 3, "created_at": 4, "updated_at": 5},
    f"{AEX}.AgentMessage": {
        "type": 1, "content": 2, "timestamp": 3, "tool_calls": 4, "metadata": 5,
    },
    f"{AEX}.ToolCall": {
        "id": 1, "name": 2, "args": 3, "result": 4, "status": 5, "component_metadata": 6,
        "started_at": 7, "completed_at": 8, "error": 9,
    },
    f"{AEX}.ComponentMetadata": {
        "component_type": 1, "component_group": 2, "layout_hint": 3, "metadata": 4,
    },
    f"{AEX}.SubAgentExecution": {
        "id": 1, "name": 2, "input": 3, "output": 4, "status": 5, "started_at": 6,
        "completed_at": 7, "error": 8, "metadata": 9,
    },
    f"{AEX}.AgentExecutionUpdateStatusInput": {"execution_id": 1, "status": 2},
    "ai.stigmer.agentic.executioncontext.v1.ExecutionValue": {"value": 1, "is_secret": 2},
    f"{RES}.ApiResourceMetadata": {
        "name": 1, "slug": 2, "id": 3, "org": 4, "owner_scope": 5, "labels": 6,
        "annotations": 7, "tags": 8, "version": 9,
    },
    f"{RES}.ApiResourceMetadataVersion": {"id": 1, "message": 2, "previous_version_id": 3},
    f"{RES}.ApiResourceAudit": {"spec_audit": 1, "status_audit": 2},
    f"{RES}.ApiResourceAuditInfo": {
        "created_by": 1, "created_at": 2, "updated_by": 3, "updated_at": 4, "event": 5,
    },
    f"{RES}.ApiResourceAuditActor": {"id": 1, "avatar": 2},
    f"{RES}.ApiResourceReference": {"scope": 1, "org": 2, "kind": 3, "slug": 4, "version": 5},
}  # fmt: skip

WHOLE_ENUMS = {
    f"{AEX}.ExecutionPhase": {
        "EXECUTION_PHASE_UNSPECIFIED": 0, "EXECUTION_PENDING": 1, "EXECUTION_IN_PROGRESS": 2,
        "EXECUTION_COMPLETED": 3, "EXECUTION_FAILED": 4, "EXECUTION_CANCELLED": 5,
    },
    f"{AEX}.MessageType": {
        "MESSAGE_TYPE_UNSPECIFIED": 0, "MESSAGE_HUMAN": 1, "MESSAGE_AI": 2, "MESSAGE_TOOL": 3,
        "MESSAGE_SYSTEM": 4,
    },
    f"{AEX}.ToolCallStatus": {
        "TOOL_CALL_STATUS_UNSPECIFIED": 0, "TOOL_CALL_PENDING": 1, "TOOL_CALL_RUNNING": 2,
        "TOOL_CALL_COMPLETED": 3, "TOOL_CALL_FAILED": 4,
    },
    f"{AEX}.TodoStatus": {
        "TODO_STATUS_UNSPECIFIED": 0, "TODO_PENDING": 1, "TODO_IN_PROGRESS": 2,
        "TODO_COMPLETED": 3, "TODO_CANCELLED": 4,
    },
    f"{AEX}.SubAgentStatus": {
        "SUB_AGENT_STATUS_UNSPECIFIED": 0, "SUB_AGENT_PENDING": 1, "SUB_AGENT_IN_PROGRESS": 2,
        "SUB_AGENT_COMPLETED": 3, "SUB_AGENT_FAILED": 4,
    },
    f"{RES}.ApiResourceOwnerScope": {
        "api_resource_owner_scope_unspecified": 0, "platform": 1, "organization": 2,
        "identity_account": 3,
    },
    "ai.stigmer.agentic.skill.v1.SkillState": {
        "SKILL_STATE_UNSPECIFIED": 0, "SKILL_STATE_UPLOADING": 1, "SKILL_STATE_READY": 2,
        "SKILL_STATE_FAILED": 3,
    },
}  # fmt: skip

# Fields the runner reads from messages it only receives as gRPC binary.
READ_FIELDS = {
    "ai.stigmer.agentic.session.v1.SessionSpec": {"agent_instance_id": 1, "thread_id": 3},
    "ai.stigmer.agentic.agentinstance.v1.AgentInstanceSpec": {"agent_id": 1, "environment_refs": 3},
    "ai.stigmer.agentic.agent.v1.AgentSpec": {
        "instructions": 3, "mcp_servers": 4, "skill_refs": 5, "sub_agents": 6, "env_spec": 7,
    },
    "ai.stigmer.agentic.skill.v1.SkillSpec": {"skill_md": 1, "tag": 2},
    "ai.stigmer.agentic.skill.v1.SkillStatus": {
        "audit": 99, "version_hash": 1, "artifact_storage_key": 2, "state": 3,
    },
    "ai.stigmer.agentic.skill.v1.GetArtifactRequest": {"artifact_storage_key": 1},
    "ai.stigmer.agentic.skill.v1.GetArtifactResponse": {"artifact": 1},
    "ai.stigmer.agentic.environment.v1.EnvironmentSpec": {"description": 1, "data": 2},
    "ai.stigmer.agentic.environment.v1.EnvironmentValue": {
        "value": 1, "is_secret": 2, "description": 3,
    },
}  # fmt: skip


def test_committed_code_is_what_the_proto_files_generate(tmp_path: Path) -> None:
    proto_root = ROOT / protos.PROTO_ROOT
    written = protos.generate(proto_root, tmp_path)
    assert len(written) == 2 * len(protos.proto_files(proto_root))
    assert protos.differences(tmp_path, proto_root) == [], "run `nox -s protos` and commit"


def test_the_protos_command_checks_then_repairs_a_drifted_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from build_tools.cli import run

    wire = tmp_path / protos.PROTO_ROOT / protos.WIRE_DIR
    shutil.copytree(ROOT / protos.PROTO_ROOT / protos.WIRE_DIR, wire)
    (wire / "skill_pb2.py").write_text("# edited by hand\n")
    (wire / "session_pb2.pyi").unlink()
    (wire / "removed_pb2.py").write_text("")

    assert run(["protos", "--check"], {}, project_root=tmp_path) == 2  # ConfigError
    error = capsys.readouterr().err
    assert "3 generated file(s) do not match" in error
    for name in ("skill_pb2.py: differs", "session_pb2.pyi: missing", "removed_pb2.py: stale"):
        assert name in error
    assert "Run `nox -s protos`" in error

    assert run(["protos"], {}, project_root=tmp_path) == 0
    assert not (wire / "removed_pb2.py").exists()
    assert run(["protos", "--check"], {}, project_root=tmp_path) == 0
    assert (wire / "skill_pb2.py").read_bytes() == (
        ROOT / protos.PROTO_ROOT / protos.WIRE_DIR / "skill_pb2.py"
    ).read_bytes()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_services_and_methods_have_upstreams_names(service: str) -> None:
    methods = POOL.FindServiceByName(service).methods_by_name
    assert set(methods) == set(SERVICES[service])
    for name, (request, response) in SERVICES[service].items():
        assert (methods[name].input_type.full_name, methods[name].output_type.full_name) == (
            request,
            response,
        )


@pytest.mark.parametrize("name", sorted(WHOLE_MESSAGES))
def test_messages_the_go_side_decodes_are_whole(name: str) -> None:
    fields = POOL.FindMessageTypeByName(name).fields_by_name
    assert {f: fields[f].number for f in fields} == WHOLE_MESSAGES[name]


@pytest.mark.parametrize("name", sorted(READ_FIELDS))
def test_fields_the_runner_reads_have_upstreams_numbers(name: str) -> None:
    fields = POOL.FindMessageTypeByName(name).fields_by_name
    assert {f: fields[f].number for f in READ_FIELDS[name]} == READ_FIELDS[name]


@pytest.mark.parametrize("name", sorted(WHOLE_ENUMS))
def test_enums_are_whole(name: str) -> None:
    values = POOL.FindEnumTypeByName(name).values_by_name
    assert {v: values[v].number for v in values} == WHOLE_ENUMS[name]


def test_resource_kinds_have_upstreams_numbers() -> None:
    kinds = POOL.FindEnumTypeByName(f"{RES}.apiresourcekind.ApiResourceKind").values_by_name
    expected = {"agent": 40, "agent_execution": 41, "session": 42, "skill": 43}
    expected |= {"agent_instance": 45, "environment": 53, "execution_context": 54}
    assert {k: kinds[k].number for k in expected} == expected


def _reference(slug: str, kind: int) -> bytes:
    return pw.message(pw.varint(1, 2), pw.string(2, "acme"), pw.varint(3, kind), pw.string(4, slug))


def test_upstream_bytes_decode_into_the_chain_resources() -> None:
    metadata = pw.message(pw.string(1, "Helper"), pw.string(3, "ses_1"), pw.varint(5, 3))
    session = session_pb2.Session.FromString(
        pw.message(
            pw.string(2, "Session"),
            pw.nested(3, metadata),
            pw.nested(4, pw.string(1, "ain_1") + pw.string(3, "thread-ses_1")),
            pw.nested(99, b"unknown to us, skipped"),
        )
    )
    assert session.spec.agent_instance_id == "ain_1"
    assert session.spec.thread_id == "thread-ses_1"
    assert session.metadata.owner_scope == 3  # identity_account

    instance = agentinstance_pb2.AgentInstance.FromString(
        pw.nested(4, pw.string(1, "agt_1") + pw.nested(3, _reference("prod", 53)))
    )
    assert instance.spec.agent_id == "agt_1"
    [ref] = instance.spec.environment_refs
    assert (ref.scope, ref.org, ref.kind, ref.slug) == (2, "acme", 53, "prod")

    env_value = pw.string(1, "eu-west-1") + pw.varint(2, True)
    agent = agent_pb2.Agent.FromString(
        pw.nested(
            4,
            pw.message(
                pw.string(3, "You review code."),
                pw.nested(5, _reference("calc", 43)),
                pw.nested(7, pw.message_map(2, {"REGION": env_value})),
            ),
        )
    )
    assert agent.spec.instructions == "You review code."
    assert [r.slug for r in agent.spec.skill_refs] == ["calc"]
    assert agent.spec.env_spec.data["REGION"].value == "eu-west-1"
    assert agent.spec.env_spec.data["REGION"].is_secret

    skill = skill_pb2.Skill.FromString(
        pw.nested(4, pw.string(1, "# Calc\n"))
        + pw.nested(5, pw.string(1, "ab" * 32) + pw.string(2, "ab.zip") + pw.varint(3, 2))
    )
    assert (skill.spec.skill_md, skill.status.artifact_storage_key) == ("# Calc\n", "ab.zip")
    assert skill.status.version_hash == "ab" * 32
    assert skill.status.state == skill_pb2.SKILL_STATE_READY
    artifact = skill_pb2.GetArtifactResponse.FromString(pw.length_delimited(1, b"PK\x03\x04"))
    assert artifact.artifact == b"PK\x03\x04"

    environment = environment_pb2.Environment.FromString(
        pw.nested(4, pw.message_map(2, {"A": pw.string(1, "1")}))
    )
    assert environment.spec.data["A"].value == "1"


def _status_bytes() -> bytes:
    created = pw.nested(2, pw.varint(1, 1_769_420_000))  # Timestamp.seconds
    return pw.message(
        pw.nested(99, pw.nested(1, pw.nested(1, pw.string(1, "usr_1")) + created)),
        pw.nested(1, pw.varint(1, 1) + pw.string(2, "hello")),
        pw.nested(1, pw.varint(1, 4) + pw.string(2, "model unreachable")),
        pw.varint(2, 4),  # EXECUTION_FAILED
        pw.nested(3, pw.string(1, "call_1") + pw.string(2, "ls") + pw.varint(5, 4)),
        pw.string(6, "model unreachable"),
        pw.string(7, "2026-01-26T10:00:00Z"),
        pw.message_map(9, {"t1": pw.string(1, "t1") + pw.varint(3, 2)}),
    )


def test_upstream_status_bytes_decode_and_ours_encode_the_same_fields() -> None:
    status = agentexecution_pb2.AgentExecutionStatus.FromString(_status_bytes())
    assert status.phase == agentexecution_pb2.EXECUTION_FAILED
    assert status.error == "model unreachable"
    assert [(m.type, m.content) for m in status.messages] == [
        (agentexecution_pb2.MESSAGE_HUMAN, "hello"),
        (agentexecution_pb2.MESSAGE_SYSTEM, "model unreachable"),
    ]
    assert status.tool_calls[0].status == agentexecution_pb2.TOOL_CALL_FAILED
    assert status.todos["t1"].status == agentexecution_pb2.TODO_IN_PROGRESS
    assert status.audit.spec_audit.created_by.id == "usr_1"
    assert status.audit.spec_audit.created_at.seconds == 1_769_420_000

    update = agentexecution_pb2.AgentExecutionUpdateStatusInput(execution_id="aex_1")
    update.status.CopyFrom(status)
    decoded = pw.decode(update.SerializeToString())
    assert decoded.text(1) == "aex_1"
    sent = decoded.message(2)
    assert (sent.integer(2), sent.text(6), len(sent.messages(1))) == (4, "model unreachable", 2)
    assert sent.messages(1)[1].integer(1) == 4
    assert sent.message(99).message(1).message(1).text(1) == "usr_1"


# An AgentExecution as Go's protojson writes it (lowerCamelCase keys, enum names,
# RFC 3339 timestamps, base64 bytes), from upstream's api.proto / spec.proto.
EXECUTION_JSON: dict[str, Any] = {
    "apiVersion": "agentic.stigmer.ai/v1",
    "kind": "AgentExecution",
    "metadata": {
        "name": "aex-1",
        "slug": "aex-1",
        "id": "aex_1",
        "org": "local",
        "ownerScope": "identity_account",
        "labels": {"team": "core"},
        "annotations": {"note": "x"},
        "tags": ["a"],
        "version": {"id": "ver_2", "message": "m", "previousVersionId": "ver_1"},
    },
    "spec": {
        "sessionId": "ses_1",
        "agentId": "agt_1",
        "message": "Write hello.txt",
        "executionConfig": {"modelName": "qwen2.5:7b"},
        "runtimeEnv": {"TOKEN": {"value": "t0k", "isSecret": True}},
        "callbackToken": base64.b64encode(b"token").decode(),
    },
    "status": {
        "audit": {
            "specAudit": {
                "createdBy": {"id": "usr_1", "avatar": "https://a/b.png"},
                "createdAt": "2026-01-26T10:00:00Z",
                "updatedBy": {"id": "usr_1"},
                "updatedAt": "2026-01-26T10:00:01.500Z",
                "event": "created",
            },
            "statusAudit": {"event": "updated"},
        },
        "messages": [
            {
                "type": "MESSAGE_AI",
                "content": "ok",
                "timestamp": "2026-01-26T10:00:02Z",
                "toolCalls": [{"id": "c1", "name": "write_file"}],
                "metadata": {"step": 1},
            }
        ],
        "phase": "EXECUTION_IN_PROGRESS",
        "toolCalls": [
            {
                "id": "c1",
                "name": "write_file",
                "args": {"file_path": "/hello.txt", "content": "hi"},
                "result": "done",
                "status": "TOOL_CALL_COMPLETED",
                "componentMetadata": {
                    "componentType": "preview",
                    "componentGroup": "files",
                    "layoutHint": "inline",
                    "metadata": {"syntax": "text"},
                },
                "startedAt": "2026-01-26T10:00:02Z",
                "completedAt": "2026-01-26T10:00:03Z",
                "error": "",
            }
        ],
        "subAgentExecutions": [
            {
                "id": "s1",
                "name": "researcher",
                "input": "look",
                "output": "found",
                "status": "SUB_AGENT_COMPLETED",
                "startedAt": "2026-01-26T10:00:02Z",
                "completedAt": "2026-01-26T10:00:04Z",
                "error": "",
                "metadata": {},
            }
        ],
        "error": "",
        "startedAt": "2026-01-26T10:00:00Z",
        "completedAt": "",
        "todos": {
            "t1": {
                "id": "t1",
                "content": "write it",
                "status": "TODO_COMPLETED",
                "createdAt": "2026-01-26T10:00:02Z",
                "updatedAt": "2026-01-26T10:00:03Z",
            }
        },
        "callbackToken": base64.b64encode(b"cb").decode(),
    },
}


def test_a_go_protojson_execution_parses_strictly() -> None:
    execution = json_format.Parse(json.dumps(EXECUTION_JSON), agentexecution_pb2.AgentExecution())
    assert execution.metadata.id == "aex_1"
    assert execution.metadata.owner_scope == 3
    assert execution.spec.session_id == "ses_1"
    assert execution.spec.execution_config.model_name == "qwen2.5:7b"
    assert execution.spec.runtime_env["TOKEN"].is_secret
    assert execution.spec.callback_token == b"token"
    assert execution.status.phase == agentexecution_pb2.EXECUTION_IN_PROGRESS
    assert execution.status.audit.spec_audit.updated_at.nanos == 500_000_000
    assert execution.status.tool_calls[0].args["file_path"] == "/hello.txt"
    assert execution.status.todos["t1"].status == agentexecution_pb2.TODO_COMPLETED
    assert execution.status.sub_agent_executions[0].name == "researcher"


def test_our_status_json_uses_only_upstreams_keys() -> None:
    execution = json_format.Parse(json.dumps(EXECUTION_JSON), agentexecution_pb2.AgentExecution())
    written = json.loads(json_format.MessageToJson(execution.status))
    assert set(written) == set(EXECUTION_JSON["status"]) - {"error", "completedAt"}  # defaults
    assert set(written["toolCalls"][0]) == set(EXECUTION_JSON["status"]["toolCalls"][0]) - {"error"}


def test_temporal_sends_the_status_as_protobuf_json_with_upstreams_message_type() -> None:
    from temporalio.converter import DataConverter

    status = agentexecution_pb2.AgentExecutionStatus(phase=agentexecution_pb2.EXECUTION_COMPLETED)
    [payload] = DataConverter.default.payload_converter.to_payloads([status])
    assert payload.metadata["encoding"] == b"json/protobuf"
    assert payload.metadata["messageType"] == f"{AEX}.AgentExecutionStatus".encode()
    assert json.loads(payload.data) == {"phase": "EXECUTION_COMPLETED"}
