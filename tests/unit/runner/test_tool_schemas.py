"""Tool schemas built once per tool function (and tool-call schemas once per schema): the
same schemas a fresh build makes."""

from __future__ import annotations

import functools
import types
from pathlib import Path
from typing import Annotated, Any

import langchain_core.tools.base as tools_base
import langchain_core.tools.structured as structured
import pytest
from agent_runner import agent
from agent_runner.tool_schemas import (
    ENTRIES_PER_FUNCTION,
    PATCH_NAME,
    SUBSET_NAME,
    WRAPPED_NAME,
    SchemaCache,
    ToolCallSchemas,
    install,
    install_tool_calls,
    patch_once,
)
from langchain_core.tools.base import create_schema_from_function
from langchain_core.utils.pydantic import _create_subset_model
from pydantic import Field


def _tool_factory(limit_default: int = 5) -> Any:
    def list_files(path: str, limit: int = limit_default) -> list[str] | str:
        """List files under a path."""
        return [path] * limit

    return list_files


def _agent_tools(tmp_path: Path) -> dict[str, Any]:
    """The tools of a freshly built agent, by name."""
    model = agent.build_model(
        agent.ModelSettings("ollama", "m", "http://127.0.0.1:1", None, 100, None, 30)
    )
    graph = agent.build_agent(model, "You are a helpful AI assistant.", tmp_path, {})
    return dict(graph.nodes["tools"].bound.tools_by_name)


def _schemas(tmp_path: Path) -> dict[str, dict[str, Any]]:
    tools = _agent_tools(tmp_path)
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


def test_each_cache_is_installed_once_where_langchain_looks_it_up() -> None:
    assert getattr(structured, WRAPPED_NAME) is agent.TOOL_SCHEMAS
    assert isinstance(agent.TOOL_SCHEMAS, SchemaCache)
    assert getattr(tools_base, SUBSET_NAME) is agent.TOOL_CALL_SCHEMAS
    module = types.ModuleType("fake_langchain")
    setattr(module, WRAPPED_NAME, create_schema_from_function)
    setattr(module, SUBSET_NAME, _create_subset_model)
    setattr(module, PATCH_NAME, lambda cls: None)
    schemas, tool_calls = install(module), install_tool_calls(module)
    assert install(module) is schemas
    assert install_tool_calls(module) is tool_calls
    assert schemas.build is create_schema_from_function
    assert tool_calls.build is _create_subset_model


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


# -- tool-call schemas (BaseTool.tool_call_schema) ------------------------------------------


def _source_model() -> Any:
    return create_schema_from_function("list_files", _tool_factory())


def test_tool_call_schemas_share_one_class_per_source_model_and_fields() -> None:
    cache = ToolCallSchemas(_create_subset_model)
    source = _source_model()
    first = cache("list_files", source, ["path", "limit"], fn_description="List files.")
    assert cache("list_files", source, ["path", "limit"], fn_description="List files.") is first
    assert (cache.hits, cache.misses) == (1, 1)
    others = [
        cache("list_files", source, ["path"], fn_description="List files."),
        cache("other", source, ["path", "limit"], fn_description="List files."),
        cache("list_files", source, ["path", "limit"], fn_description="Other."),
        cache("list_files", source, ["path", "limit"], descriptions={"path": "Where."}),
        cache("list_files", _source_model(), ["path", "limit"], fn_description="List files."),
    ]
    assert all(other is not first for other in others)
    assert cache.hits == 1
    assert others[3].model_json_schema()["properties"]["path"]["description"] == "Where."


def test_tool_call_schemas_keep_at_most_their_limit() -> None:
    cache = ToolCallSchemas(_create_subset_model, kept=3)
    source = _source_model()
    for n in range(10):
        cache(f"tool{n}", source, ["path"])
    assert len(cache.entries) == 3
    assert [key[0] for key in cache.entries] == ["tool7", "tool8", "tool9"]


def test_a_shared_class_is_patched_once_not_once_per_tool() -> None:
    patched: list[type] = []
    once = patch_once(patched.append)
    source = _source_model()
    once(source)
    once(source)
    assert patched == [source]


def test_the_agents_tool_call_schemas_are_shared_and_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def tool_call_classes() -> dict[str, Any]:
        return {name: tool.tool_call_schema for name, tool in _agent_tools(tmp_path).items()}

    first, second = tool_call_classes(), tool_call_classes()
    assert len(first) >= 8
    assert all(second[name] is cls for name, cls in first.items())
    # Patched once: each class's schema method is langchain's caching wrapper around
    # pydantic's, not a wrapper around a wrapper (one more per build, without bound).
    for cls in second.values():
        wrapper = cls.model_json_schema.__func__
        wrapped = [c.cell_contents for c in wrapper.__closure__ if callable(c.cell_contents)]
        assert wrapper.__name__ == "_cached_json_schema"
        assert [w.__func__.__name__ for w in wrapped] == ["model_json_schema"]
    monkeypatch.setattr(tools_base, SUBSET_NAME, agent.TOOL_CALL_SCHEMAS.build)
    monkeypatch.setattr(tools_base, PATCH_NAME, getattr(tools_base, PATCH_NAME).__wrapped_patch__)
    fresh = tool_call_classes()
    assert all(fresh[name] is not cls for name, cls in first.items())
    assert {n: c.model_json_schema() for n, c in fresh.items()} == {
        n: c.model_json_schema() for n, c in second.items()
    }
