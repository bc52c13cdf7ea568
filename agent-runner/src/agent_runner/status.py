"""Build an AgentExecutionStatus from LangGraph `astream_events` (v2) events.

What the Stigmer UI reads from it, as upstream's runner fills it: one AI message per model
turn (streamed tokens appended), a TOOL message plus a `tool_calls` entry per tool run
(PENDING at start, COMPLETED or FAILED with the result at the end), `todos` from the
`write_todos` planning tool (not shown as a tool call), and, beyond upstream, a
`sub_agent_executions` entry per `task` (sub-agent) call. Pure: no I/O, the clock is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf.struct_pb2 import Struct

from agent_runner.wire.agentexecution_pb2 import (
    AgentExecutionStatus,
    AgentMessage,
    ComponentMetadata,
    ExecutionPhase,
    MessageType,
    SubAgentExecution,
    SubAgentStatus,
    TodoItem,
    TodoStatus,
    ToolCall,
    ToolCallStatus,
)

PLANNING_TOOLS = frozenset({"write_todos"})
SUB_AGENT_TOOL = "task"
# The status travels in one Temporal payload (2 MB limit) and is sent on every progress
# update: a tool's whole file content would not fit, so long texts are cut.
MAX_RESULT_CHARS = 20_000
MAX_ARG_CHARS = 10_000
# How the UI renders a tool's call (upstream infers a component type by tool name).
_COMPONENT_TYPES = {
    "execute": "terminal",
    "read_file": "preview",
    "write_file": "preview",
    "edit_file": "preview",
    "ls": "file-list",
    "glob": "file-list",
    "grep": "search",
}
_TODO_STATUS = {
    "pending": TodoStatus.TODO_PENDING,
    "in_progress": TodoStatus.TODO_IN_PROGRESS,
    "completed": TodoStatus.TODO_COMPLETED,
    "cancelled": TodoStatus.TODO_CANCELLED,
}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def _jsonable(value: Any) -> Any:
    """Tool inputs may carry injected runtime objects: keep only JSON data, texts cut."""
    if isinstance(value, str):
        return _cut(value, MAX_ARG_CHARS)
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items() if _is_data(v)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value if _is_data(v)]
    return str(value)


def _is_data(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | Mapping | list | tuple) or value is None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str) or (isinstance(b, Mapping) and b.get("type") == "text")
        )
    return ""


def _result_text(output: Any) -> str:
    content = getattr(output, "content", output)
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = _text(content)
    else:
        text = json.dumps(_jsonable(content), default=str)
    return _cut(text, MAX_RESULT_CHARS)


class StatusBuilder:
    def __init__(self, initial: AgentExecutionStatus, clock: Callable[[], str] = utc_now) -> None:
        self.status = AgentExecutionStatus()
        self.status.CopyFrom(initial)
        self.clock = clock
        self._ai_by_run: dict[str, AgentMessage] = {}
        self._tool_calls: dict[str, tuple[ToolCall, ToolCall]] = {}
        self._sub_agents: dict[str, SubAgentExecution] = {}
        self.events = 0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.status.phase = ExecutionPhase.EXECUTION_IN_PROGRESS
        self.status.started_at = self.status.started_at or self.clock()

    def complete(self) -> None:
        self.status.phase = ExecutionPhase.EXECUTION_COMPLETED
        self.status.completed_at = self.clock()

    def fail(self, error: str) -> None:
        self.status.phase = ExecutionPhase.EXECUTION_FAILED
        self.status.error = error
        self.status.completed_at = self.clock()
        self.status.messages.append(
            AgentMessage(
                type=MessageType.MESSAGE_SYSTEM, content=f"Error: {error}", timestamp=self.clock()
            )
        )
        for started, listed in self._tool_calls.values():
            for call in (started, listed):
                if call.status == ToolCallStatus.TOOL_CALL_PENDING:
                    call.status = ToolCallStatus.TOOL_CALL_FAILED
                    call.error = "the execution failed before the tool finished"
                    call.completed_at = self.clock()

    def has_ai_reply(self) -> bool:
        return any(m.type == MessageType.MESSAGE_AI and m.content for m in self.status.messages)

    # -- events --------------------------------------------------------------------------
    def process(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        kind = event.get("event", "")
        data = event.get("data") or {}
        run_id = str(event.get("run_id", ""))
        name = str(event.get("name", ""))
        if kind == "on_chat_model_stream":
            self._ai_text(run_id, _text(getattr(data.get("chunk"), "content", "")), append=True)
        elif kind == "on_chat_model_end":
            # Non-streaming models deliver the whole reply here; streamed ones repeat it.
            output = data.get("output")
            self._ai_text(run_id, _text(getattr(output, "content", "")), append=False)
        elif kind == "on_tool_start" and run_id:
            self._tool_start(run_id, name, data.get("input") or {})
        elif kind == "on_tool_end" and run_id:
            self._tool_end(run_id, name, _result_text(data.get("output")), failed=False)
        elif kind == "on_tool_error" and run_id:
            self._tool_end(run_id, name, str(data.get("error", "")), failed=True)

    def _ai_text(self, run_id: str, text: str, *, append: bool) -> None:
        message = self._ai_by_run.get(run_id)
        if not text and message is None:
            return
        if message is None:
            self.status.messages.append(
                AgentMessage(type=MessageType.MESSAGE_AI, content="", timestamp=self.clock())
            )
            message = self.status.messages[-1]
            self._ai_by_run[run_id] = message
        if append:
            message.content += text
        elif text:
            message.content = text

    def _tool_start(self, run_id: str, name: str, raw_input: Any) -> None:
        args = _jsonable(raw_input) if isinstance(raw_input, Mapping) else {"input": str(raw_input)}
        if name in PLANNING_TOOLS:
            todos = args.get("todos")
            self._todos(todos if isinstance(todos, list) else [])
            return
        if name == SUB_AGENT_TOOL:
            self.status.sub_agent_executions.append(
                SubAgentExecution(
                    id=run_id,
                    name=str(args.get("subagent_type", "general-purpose")),
                    input=str(args.get("description", "")),
                    status=SubAgentStatus.SUB_AGENT_IN_PROGRESS,
                    started_at=self.clock(),
                )
            )
            self._sub_agents[run_id] = self.status.sub_agent_executions[-1]
        struct = Struct()
        struct.update(args)
        call = ToolCall(
            id=run_id,
            name=name,
            args=struct,
            status=ToolCallStatus.TOOL_CALL_PENDING,
            component_metadata=ComponentMetadata(
                component_type=_COMPONENT_TYPES.get(name, "default"),
                component_group="main-agent-tools",
            ),
            started_at=self.clock(),
        )
        message = AgentMessage(type=MessageType.MESSAGE_TOOL, timestamp=self.clock())
        message.tool_calls.append(call)
        self.status.messages.append(message)
        self.status.tool_calls.append(call)
        # Protobuf copies on append: keep both copies to update them together.
        self._tool_calls[run_id] = (
            self.status.messages[-1].tool_calls[0],
            self.status.tool_calls[-1],
        )

    def _tool_end(self, run_id: str, name: str, result: str, *, failed: bool) -> None:
        sub_agent = self._sub_agents.pop(run_id, None)
        if sub_agent is not None:
            sub_agent.status = (
                SubAgentStatus.SUB_AGENT_FAILED if failed else SubAgentStatus.SUB_AGENT_COMPLETED
            )
            sub_agent.completed_at = self.clock()
            if failed:
                sub_agent.error = result
            else:
                sub_agent.output = result
        for call in self._tool_calls.get(run_id, ()):
            call.completed_at = self.clock()
            if failed:
                call.status = ToolCallStatus.TOOL_CALL_FAILED
                call.error = result
            else:
                call.status = ToolCallStatus.TOOL_CALL_COMPLETED
                call.result = result

    def _todos(self, todos: list[Any]) -> None:
        now = self.clock()
        for index, todo in enumerate(todos):
            if not isinstance(todo, Mapping):
                continue
            # deepagents' todos have content and status only; the position is their id.
            todo_id = str(todo.get("id") or f"todo-{index + 1}")
            existing = self.status.todos.get(todo_id)
            self.status.todos[todo_id].CopyFrom(
                TodoItem(
                    id=todo_id,
                    content=str(todo.get("content", "")),
                    status=_TODO_STATUS.get(
                        str(todo.get("status", "")).lower(), TodoStatus.TODO_PENDING
                    ),
                    created_at=existing.created_at if existing is not None else now,
                    updated_at=now,
                )
            )
