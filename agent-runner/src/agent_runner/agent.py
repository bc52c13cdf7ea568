"""The LangGraph tool-calling agent.

Imported lazily (heavy: langchain/langgraph) so the worker registers before it
is loaded; see ``activities._load_agent``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import END, START, MessagesState, StateGraph

from agent_runner.sandbox import SandboxViolation, ThreadFiles

DEFAULT_SYSTEM_PROMPT = (
    "You are a coding agent working in a sandboxed directory. Use the tools write_file, "
    "read_file and list_files with paths relative to that directory. When done, reply "
    "with a short summary."
)


@dataclass(frozen=True)
class ModelSettings:
    provider: str
    model: str
    ollama_base_url: str
    api_key: str | None
    timeout_seconds: float


class LLMError(Exception):
    """A model call failed; ``kind`` becomes the ApplicationError type."""

    def __init__(self, kind: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


@dataclass
class AgentOutcome:
    status: str
    final_message: str
    steps: int = 0
    tool_calls: int = 0
    files_written: list[str] = field(default_factory=list)


def build_model(settings: ModelSettings) -> BaseChatModel:
    if settings.provider == "anthropic":
        from langchain_anthropic import ChatAnthropic

        return ChatAnthropic(  # type: ignore[call-arg]
            model_name=settings.model,
            api_key=settings.api_key,  # type: ignore[arg-type]
            timeout=settings.timeout_seconds,
            # Temporal retries the activity; keep in-client retries short.
            max_retries=1,
        )
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.model,
        base_url=settings.ollama_base_url,
        client_kwargs={"timeout": settings.timeout_seconds},
    )


def classify_llm_error(exc: BaseException) -> LLMError:
    """Map client exceptions to: retry can help (unavailable) or cannot (bad response)."""
    if isinstance(exc, LLMError):
        return exc
    text = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError):
        return LLMError("LLMUnavailable", f"LLM endpoint unreachable: {text}", retryable=True)
    status = getattr(exc, "status_code", None)
    module = type(exc).__module__
    if module.startswith(("ollama", "anthropic")):
        if type(exc).__name__ in ("APIConnectionError", "APITimeoutError"):
            return LLMError("LLMUnavailable", f"LLM endpoint unreachable: {text}", retryable=True)
        if isinstance(status, int) and (status >= 500 or status in (408, 429)):
            return LLMError("LLMUnavailable", f"LLM endpoint unavailable: {text}", retryable=True)
        if isinstance(status, int) and 400 <= status < 500:
            return LLMError(
                "LLMRequestRejected", f"LLM rejected the request: {text}", retryable=False
            )
    return LLMError("LLMBadResponse", f"LLM answered something unusable: {text}", retryable=False)


def make_tools(files: ThreadFiles) -> list[BaseTool]:
    def write_file(path: str, content: str) -> str:
        """Write UTF-8 text to a file (relative path) in the sandbox, creating directories."""
        return files.write_file(path, content)

    def read_file(path: str) -> str:
        """Read a UTF-8 text file (relative path) from the sandbox."""
        return files.read_file(path)

    def list_files(path: str = ".") -> str:
        """List files under a directory (relative path) of the sandbox, one per line."""
        return "\n".join(files.list_files(path)) or "(no files)"

    return [StructuredTool.from_function(f) for f in (write_file, read_file, list_files)]


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in content]
    return "".join(parts)


def _build_graph(
    model: BaseChatModel,
    tools: list[BaseTool],
    outcome: AgentOutcome,
    max_steps: int,
    on_step: Callable[[int], Awaitable[None]],
) -> Any:
    """model -> (tool calls? tools -> model : end); counts steps into ``outcome``."""
    by_name = {t.name: t for t in tools}
    bound = model.bind_tools(tools)

    async def call_model(state: MessagesState) -> dict[str, list[BaseMessage]]:
        try:
            reply = await bound.ainvoke(state["messages"])
        except Exception as exc:
            raise classify_llm_error(exc) from exc
        if not isinstance(reply, AIMessage):
            raise LLMError("LLMBadResponse", f"unexpected reply {type(reply)}", retryable=False)
        outcome.steps += 1
        await on_step(outcome.steps)
        return {"messages": [reply]}

    def call_tools(state: MessagesState) -> dict[str, list[BaseMessage]]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        results: list[BaseMessage] = []
        for call in last.tool_calls:
            outcome.tool_calls += 1
            tool = by_name.get(call["name"])
            if tool is None:
                content, status = f"error: unknown tool {call['name']!r}", "error"
                results.append(
                    ToolMessage(content=content, tool_call_id=call["id"] or "", status=status)
                )
                continue
            try:
                content = str(tool.invoke(call["args"]))
                status = "success"
            except SandboxViolation:
                # Escapes end the run; the model does not get to try again.
                raise
            except Exception as exc:
                content, status = f"error: {type(exc).__name__}: {exc}", "error"
            results.append(
                ToolMessage(
                    content=content, tool_call_id=call["id"] or "", name=call["name"], status=status
                )
            )
        return {"messages": results}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls:
            return "tools" if outcome.steps < max_steps else END
        return END

    graph: Any = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", call_tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_edge("tools", "model")
    return graph.compile()


async def run_agent(
    model: BaseChatModel,
    files: ThreadFiles,
    prompt: str,
    *,
    system_prompt: str | None,
    max_steps: int,
    on_step: Callable[[int], Awaitable[None]],
) -> AgentOutcome:
    outcome = AgentOutcome(status="running", final_message="")
    app = _build_graph(model, make_tools(files), outcome, max_steps, on_step)

    messages: list[BaseMessage] = [
        SystemMessage(system_prompt or DEFAULT_SYSTEM_PROMPT),
        HumanMessage(prompt),
    ]
    last_ai: AIMessage | None = None
    async for update in app.astream(
        {"messages": messages},
        stream_mode="updates",
        config={"recursion_limit": 2 * max_steps + 4},
    ):
        for node_update in update.values():
            for message in (node_update or {}).get("messages", []):
                if isinstance(message, AIMessage):
                    last_ai = message

    outcome.files_written = list(files.written)
    if last_ai is None:
        raise LLMError("LLMBadResponse", "the model produced no reply", retryable=False)
    outcome.final_message = _text(last_ai)
    outcome.status = "max_steps_reached" if last_ai.tool_calls else "completed"
    return outcome
