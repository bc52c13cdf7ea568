"""The agent: a chat model for the configured provider and a graphton deep agent on it.

Imported lazily (graphton, deepagents and langchain take seconds to import) so the worker
registers before any of it is loaded; see ``execution.load_agent_module``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import langchain_core.tools.base
import langchain_core.tools.structured
from graphton import create_deep_agent
from langchain_core.language_models import BaseChatModel

from agent_runner import tool_schemas

# Each execution builds its agent; its tools' schemas need building only once.
TOOL_SCHEMAS = tool_schemas.install(langchain_core.tools.structured)
TOOL_CALL_SCHEMAS = tool_schemas.install_tool_calls(langchain_core.tools.base)

# Upstream runs the agent with this recursion limit; graphton's loop detection stops loops.
RECURSION_LIMIT = 1000


@dataclass(frozen=True)
class ModelSettings:
    provider: str
    model: str
    ollama_base_url: str
    api_key: str | None
    max_tokens: int
    temperature: float | None
    timeout_seconds: float


def build_model(settings: ModelSettings) -> BaseChatModel:
    """The provider's langchain chat model; Temporal does not retry ExecuteGraphton
    (one attempt upstream), so the client's own retries stay short."""
    optional: dict[str, Any] = {}
    if settings.temperature is not None:
        optional["temperature"] = settings.temperature
    if settings.provider == "anthropic":
        from langchain_anthropic import ChatAnthropic

        return ChatAnthropic(  # type: ignore[call-arg]
            model_name=settings.model,
            api_key=settings.api_key,  # type: ignore[arg-type]
            max_tokens=settings.max_tokens,
            timeout=settings.timeout_seconds,
            max_retries=2,
            **optional,
        )
    if settings.provider == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=settings.model,
            api_key=settings.api_key,  # type: ignore[arg-type]
            max_completion_tokens=settings.max_tokens,
            timeout=settings.timeout_seconds,
            max_retries=2,
            **optional,
        )
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.model,
        base_url=settings.ollama_base_url,
        num_predict=settings.max_tokens,
        client_kwargs={"timeout": settings.timeout_seconds},
        **optional,
    )


def build_agent(
    model: BaseChatModel,
    system_prompt: str,
    workspace: Path,
    env_vars: Mapping[str, str],
) -> Any:
    """A graphton deep agent whose filesystem and shell tools work in ``workspace``.

    The container is the sandbox: graphton's filesystem backend offers the model file
    tools, a shell (`execute`, with ``env_vars`` in its environment), todos and sub-agents.
    """
    return create_deep_agent(
        model=model,
        system_prompt=system_prompt,
        mcp_servers={},
        sandbox_config={
            "type": "filesystem",
            "root_dir": str(workspace),
            "env_vars": dict(env_vars),
        },
        recursion_limit=RECURSION_LIMIT,
    )
