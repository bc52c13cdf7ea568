"""Tool schemas built once per tool function: the same schema a fresh build makes."""

from __future__ import annotations

import functools
import types
from pathlib import Path
from typing import Annotated, Any

import langchain_core.tools.structured as structured
import pytest
from agent_runner import agent
from agent_runner.tool_schemas import ENTRIES_PER_FUNCTION, WRAPPED_NAME, SchemaCache, install
from langchain_core.tools.base import create_schema_from_function
from pydantic import Field


def _tool_factory(limit_default: int = 5) -> Any:
    def list_files(path: str, limit: int = limit_default) -> list[str] | str:
        """List files under a path."""
        return [path] * limit

    return list_files


def _schemas(tmp_path: Path) -> dict[str, dict[str, Any]]:
    model = agent.build_model(
        agent.ModelSettings("ollama", "m", "http://127.0.0.1:1", None, 100, None, 30)
    )
    graph = agent.build_agent(model, "You are a helpful AI assistant.", tmp_path, {})
    tools = graph.nodes["tools"].bound.tools_by_name
    return {name: tool.tool_call_schema.model_json_schema() for name, tool in tools.items()}


def test_closures_of_one_function_share_one_schema() -> None:
    cache = SchemaCache(create_schema_from_function)
    first = cache("list_files", _tool_factory())
    second = cache("list_files", _tool_factory())
    assert second is first
    assert (cache.hits, cache.misses) == (1, 1)
    assert first.model_json_schema()["properties"]["limit"]["default"] == 5


def test_a_different_default_or_name_or_option_builds_its_own() -> None:
    cache = SchemaCache(create_schema_from_function)
    base = cache("list_files", _tool_factory())
    assert cache("list_files", _tool_factory(limit_default=7)) is not base
    assert cache("other_name", _tool_factory()) is not base
    assert cache("list_files", _tool_factory(), filter_args=["limit"]) is not base
    assert cache.hits == 0
    schema = cache("list_files", _tool_factory(limit_default=7)).model_json_schema()
    assert schema["properties"]["limit"]["default"] == 7


def test_annotations_rebuilt_as_new_objects_miss_without_growing() -> None:
    cache = SchemaCache(create_schema_from_function)

    def factory(description: str) -> Any:
        def read(path: str) -> str:
            """Read a file."""
            return path

        # Evaluated, as in deepagents (this file's annotations are strings): a new object
        # each time the factory runs.
        read.__annotations__ = {"path": Annotated[str, Field(description=description)]}
        return read

    for n in range(ENTRIES_PER_FUNCTION * 3):
        schema = cache("read", factory(f"path number {n}")).model_json_schema()
        assert schema["properties"]["path"]["description"] == f"path number {n}"
    assert cache.hits == 0
    assert max(len(entries) for entries in cache.entries.values()) == ENTRIES_PER_FUNCTION


def test_wrapped_functions_pass_through() -> None:
    built: list[str] = []

    def build(model_name: str, func: Any, **options: Any) -> Any:
        built.append(model_name)
        return create_schema_from_function(model_name, func, **options)

    cache = SchemaCache(build)
    inner = _tool_factory()

    @functools.wraps(inner)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return inner(*args, **kwargs)

    cache("wrapped", wrapped)
    cache("wrapped", wrapped)
    assert built == ["wrapped", "wrapped"]


def test_installed_once_where_structured_tools_look_it_up() -> None:
    assert getattr(structured, WRAPPED_NAME) is agent.TOOL_SCHEMAS
    assert isinstance(agent.TOOL_SCHEMAS, SchemaCache)
    module = types.ModuleType("fake_structured")
    module.create_schema_from_function = create_schema_from_function  # type: ignore[attr-defined]
    cache = install(module)
    assert install(module) is cache
    assert cache.build is create_schema_from_function


def test_the_agents_tools_get_the_schemas_a_fresh_build_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _schemas(tmp_path)  # fills the cache
    hits = agent.TOOL_SCHEMAS.hits
    cached = _schemas(tmp_path)
    assert agent.TOOL_SCHEMAS.hits > hits
    assert len(cached) >= 8  # deepagents' file tools, execute, todos, task, ...
    monkeypatch.setattr(structured, WRAPPED_NAME, agent.TOOL_SCHEMAS.build)
    assert _schemas(tmp_path) == cached
