"""Tool argument schemas built once per tool function, not once per execution.

Every execution builds its own agent (graphton's middlewares keep per-run counters on their
instances, so one agent cannot serve two runs), and deepagents creates its ~30 tools anew
each time, as closures. langchain_core then derives a pydantic model from each tool
function's signature: ~85 % of building an agent, ~0.2 s of CPU per execution (measured
with cProfile), repeated for signatures that never change. This wraps
`langchain_core.tools.structured.create_schema_from_function` (what
`StructuredTool.from_function` calls) with a cache: a hit needs the same code object,
docstring and arguments, and annotations and defaults that are the same objects (or equal
immutable type expressions such as ``Command | str``, which Python builds anew each time),
so a hit is the schema the call would have built. Anything else (no code object, a
``__wrapped__`` or ``__signature__`` that changes what `inspect.signature` reads) is passed
through. Installed by `agent_runner.agent` when it is imported.

The model sees a second schema per tool, `BaseTool.tool_call_schema` (the arguments minus
the injected ones), which langchain memoizes per tool *instance*: every execution's new
tools built it again, at their first model call, through `_create_subset_model`
(`ToolCallSchemas` below keys it on the source model class, which the cache above now
keeps the same, the field names and the descriptions).
"""

from __future__ import annotations

import threading
import types
import typing
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Distinct annotation/default sets kept per tool function: a closure whose annotations are
# rebuilt as new objects each time misses, and must not grow the cache without bound.
ENTRIES_PER_FUNCTION = 4
# Immutable and compared by value: rebuilt by every evaluation of e.g. `A | B`, `list[int]`,
# `Annotated[...]` (whose metadata compare by their own equality).
_VALUE_TYPES: tuple[type, ...] = (
    str,
    int,
    float,
    bool,
    type(None),
    types.UnionType,
    types.GenericAlias,
    type(typing.Optional[int]),  # noqa: UP045 - typing's own alias types
    type(typing.Annotated[int, 0]),
    type(typing.Literal[0]),
)


def _same(a: object, b: object) -> bool:
    return a is b or (type(a) is type(b) and isinstance(a, _VALUE_TYPES) and a == b)


def _same_all(first: Sequence[object], second: Sequence[object]) -> bool:
    return len(first) == len(second) and all(
        _same(a, b) for a, b in zip(first, second, strict=True)
    )


@dataclass
class _Entry:
    values: tuple[object, ...]  # annotation values and defaults, as `__call__` lists them
    schema: Any


@dataclass
class SchemaCache:
    """A drop-in for ``create_schema_from_function``; ``hits`` and ``misses`` are counted."""

    build: Callable[..., Any]
    entries: dict[tuple[object, ...], list[_Entry]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def __call__(self, model_name: str, func: Callable[..., Any], **options: Any) -> Any:
        code = getattr(func, "__code__", None)
        if code is None or hasattr(func, "__wrapped__") or hasattr(func, "__signature__"):
            return self.build(model_name, func, **options)
        annotations = getattr(func, "__annotations__", {})
        keyword_defaults = sorted((getattr(func, "__kwdefaults__", None) or {}).items())
        try:
            key = (
                model_name,
                code,
                func.__doc__,
                tuple(annotations),
                tuple(name for name, _ in keyword_defaults),
                *sorted(_hashable(options).items()),
            )
            hash(key)
        except TypeError:
            return self.build(model_name, func, **options)
        # What the signature reads besides the key: annotation values, then the defaults.
        values = (
            *annotations.values(),
            *(getattr(func, "__defaults__", None) or ()),
            *(value for _, value in keyword_defaults),
        )
        found = self.entries.setdefault(key, [])
        for entry in found:
            if _same_all(entry.values, values):
                self.hits += 1
                return entry.schema
        self.misses += 1
        schema = self.build(model_name, func, **options)
        found.append(_Entry(values, schema))
        del found[:-ENTRIES_PER_FUNCTION]
        return schema


def _hashable(options: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


# The name `StructuredTool.from_function` calls, in the module given to `install`.
WRAPPED_NAME = "create_schema_from_function"


def install(module: types.ModuleType) -> SchemaCache:
    """Wrap ``module.create_schema_from_function`` once; return the cache in place."""
    current = getattr(module, WRAPPED_NAME)
    if isinstance(current, SchemaCache):
        return current
    cache = SchemaCache(current)
    setattr(module, WRAPPED_NAME, cache)
    return cache


# Tool-call schemas kept (least recently used dropped): ~30 tools per agent, a few agents.
TOOL_CALL_SCHEMAS_KEPT = 256
# Set on a class once langchain's `_patch_json_schema_cache` has patched it: a shared class
# patched again per tool instance would nest one more wrapper each time, without bound.
PATCHED_MARK = "_agent_runner_json_schema_patched"


@dataclass
class ToolCallSchemas:
    """A drop-in for ``langchain_core.tools.base._create_subset_model``, cached.

    A subset model is a function of its arguments (the source model class is immutable
    once built), so a hit returns the class the call would have built, shared.
    """

    build: Callable[..., Any]
    kept: int = TOOL_CALL_SCHEMAS_KEPT
    entries: OrderedDict[tuple[object, ...], Any] = field(default_factory=OrderedDict)
    hits: int = 0
    misses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)  # warm-up and builds

    def __call__(
        self,
        name: str,
        model: Any,
        field_names: Sequence[str],
        *,
        descriptions: dict[str, str] | None = None,
        fn_description: str | None = None,
    ) -> Any:
        options = {"descriptions": descriptions, "fn_description": fn_description}
        try:
            described = tuple(sorted((descriptions or {}).items()))
            key: tuple[object, ...] = (name, model, tuple(field_names), described, fn_description)
            hash(key)
        except TypeError:
            return self.build(name, model, list(field_names), **options)
        with self._lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
                self.hits += 1
                return found
        built = self.build(name, model, list(field_names), **options)
        with self._lock:
            self.misses += 1
            built = self.entries.setdefault(key, built)  # a concurrent build may have won
            while len(self.entries) > self.kept:
                self.entries.popitem(last=False)
        return built


def patch_once(patch: Callable[[type], None]) -> Callable[[type], None]:
    """``patch`` applied to a class at most once (see PATCHED_MARK)."""

    def once(model_cls: type) -> None:
        if model_cls.__dict__.get(PATCHED_MARK):
            return
        patch(model_cls)
        setattr(model_cls, PATCHED_MARK, True)

    once.__wrapped_patch__ = patch  # type: ignore[attr-defined]
    return once


# The names `BaseTool.tool_call_schema` calls, in the module given to `install_tool_calls`.
SUBSET_NAME = "_create_subset_model"
PATCH_NAME = "_patch_json_schema_cache"


def install_tool_calls(module: types.ModuleType) -> ToolCallSchemas:
    """Wrap ``module._create_subset_model`` (and make its JSON-schema patch idempotent)
    once; return the cache in place."""
    current = getattr(module, SUBSET_NAME)
    if isinstance(current, ToolCallSchemas):
        return current
    patch = getattr(module, PATCH_NAME)
    cache = ToolCallSchemas(current)
    setattr(module, PATCH_NAME, patch_once(patch))
    setattr(module, SUBSET_NAME, cache)
    return cache
