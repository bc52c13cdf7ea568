"""A chat model that replays scripted AIMessages (no network)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field


def call(name: str, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"id-{name}"}])


class ScriptedChatModel(BaseChatModel):
    # Any: pydantic would try to coerce exceptions into messages.
    replies: list[Any]
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        # Stateless like the fake Ollama: the step is the number of AI messages so far.
        index = sum(isinstance(m, AIMessage) for m in messages)
        reply = self.replies[min(index, len(self.replies) - 1)]
        if isinstance(reply, Exception):
            raise reply
        # A fresh copy: LangGraph assigns ids in place, and equal ids would merge messages.
        fresh = reply.model_copy(update={"id": None})
        return ChatResult(generations=[ChatGeneration(message=fresh)])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        self.bound_tools = [t.name for t in tools]
        return self


def scripted(*replies: AIMessage | Exception) -> ScriptedChatModel:
    return ScriptedChatModel(replies=list(replies), seen=[], bound_tools=[])
