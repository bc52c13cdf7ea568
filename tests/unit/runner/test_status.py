"""The status builder on hand-made astream_events (v2) events."""

from __future__ import annotations

from agent_runner.status import MAX_ARG_CHARS, MAX_RESULT_CHARS, StatusBuilder
from agent_runner.wire.agentexecution_pb2 import (
    AgentExecutionStatus,
    ExecutionPhase,
    SubAgentStatus,
    ToolCallStatus,
)


def _builder() -> StatusBuilder:
    builder = StatusBuilder(AgentExecutionStatus(), clock=lambda: "2026-12-01T00:00:00.000Z")
    builder.start()
    return builder


def test_long_tool_texts_are_cut_so_the_status_fits_one_payload() -> None:
    builder = _builder()
    huge = "x" * (5 * MAX_ARG_CHARS)
    builder.process(
        {
            "event": "on_tool_start",
            "run_id": "r1",
            "name": "write_file",
            "data": {"input": {"path": "a", "content": huge}},
        }
    )
    builder.process(
        {
            "event": "on_tool_end",
            "run_id": "r1",
            "name": "write_file",
            "data": {"output": "y" * (3 * MAX_RESULT_CHARS)},
        }
    )
    call = builder.status.tool_calls[0]
    content = call.args["content"]
    assert isinstance(content, str)
    assert len(content) < MAX_ARG_CHARS + 100
    assert content.endswith("more characters]")
    assert len(call.result) < MAX_RESULT_CHARS + 100
    assert call.status == ToolCallStatus.TOOL_CALL_COMPLETED
    assert builder.status.ByteSize() < 100_000


def test_sub_agents_and_failures() -> None:
    builder = _builder()
    task = {"subagent_type": "researcher", "description": "find it"}
    builder.process(
        {"event": "on_tool_start", "run_id": "t1", "name": "task", "data": {"input": task}}
    )
    builder.process({"event": "on_tool_start", "run_id": "t2", "name": "ls", "data": {"input": {}}})
    builder.process(
        {"event": "on_tool_end", "run_id": "t1", "name": "task", "data": {"output": "found"}}
    )
    builder.fail("model down")
    sub = builder.status.sub_agent_executions[0]
    assert (sub.name, sub.input, sub.output) == ("researcher", "find it", "found")
    assert sub.status == SubAgentStatus.SUB_AGENT_COMPLETED
    pending = next(c for c in builder.status.tool_calls if c.name == "ls")
    assert pending.status == ToolCallStatus.TOOL_CALL_FAILED
    assert builder.status.phase == ExecutionPhase.EXECUTION_FAILED
    assert builder.status.error == "model down"
    assert builder.status.completed_at
