"""The contract declaration: complete, consumed, stdlib-only, renderable."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest
from agent_runner import config, contract


def test_every_declared_variable_is_consumed_by_config() -> None:
    fields = {f.name for f in dataclasses.fields(config.Config)}
    declared = [v.field for v in contract.ENV_VARS if not v.inert]
    assert all(v.field == "" for v in contract.ENV_VARS if v.inert)
    assert len(declared) == len(set(declared)), "two variables feed one field"
    assert set(declared) == fields
    resolved = config.load_config({}).config
    for var in contract.ENV_VARS:
        assert var.inert or hasattr(resolved, var.field)


def test_names_and_aliases_are_unique() -> None:
    names = [n for v in contract.ENV_VARS for n in v.all_names]
    assert len(names) == len(set(names))


def test_required_names_present() -> None:
    names = {v.name for v in contract.ENV_VARS}
    assert {
        "MODE",
        "TEMPORAL_SERVICE_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE",
        "TEMPORAL_MAX_CONCURRENCY",
        "STIGMER_BACKEND_ENDPOINT",
        "SANDBOX_TYPE",
        "SANDBOX_ROOT_DIR",
        "LOG_LEVEL",
        "STIGMER_LLM_PROVIDER",
        "STIGMER_LLM_MODEL",
        "OLLAMA_BASE_URL",
        "STIGMER_LLM_API_KEY",
        "AGENT_RUNNER_READY_FILE",
        "AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS",
        "AGENT_RUNNER_CONNECT_GIVE_UP_SECONDS",
    } <= names
    assert contract.env_var("TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE").aliases == ("TASK_QUEUE",)
    assert contract.env_var("SANDBOX_ROOT_DIR").aliases == ("WORKSPACE_ROOT",)
    assert contract.env_var("OLLAMA_BASE_URL").aliases == ("STIGMER_LLM_BASE_URL",)
    for secret in ("STIGMER_LLM_API_KEY", "STIGMER_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        assert contract.env_var(secret).secret


def test_log_lines_round_trip_and_start_with_a_timestamp_the_cli_merger_reads() -> None:
    import re

    line = contract.format_log_line("2026-12-01T22:10:15.123Z", "INFO", {"event": "ready"})
    # The Stigmer CLI's merger (client-apps/cli/internal/cli/logs/parser.go) keys on this.
    assert re.match(
        r"^\d{4}[/-]\d{2}[/-]\d{2}[T\s]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?", line
    )
    assert contract.parse_log_line(line) == {
        "ts": "2026-12-01T22:10:15.123Z",
        "level": "INFO",
        "event": "ready",
    }
    for other in ('{"event":"ready"}', "2026-12-01T22:10:15.123Z LOUD {}", "plain text", ""):
        assert contract.parse_log_line(other) is None


def test_declarations_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        contract.ENV_VARS[0].default = "x"  # type: ignore[misc]


def test_defaults_are_valid() -> None:
    for var in contract.ENV_VARS:
        if var.choices and var.default is not None:
            assert var.default in var.choices


def test_exit_codes_are_distinct() -> None:
    codes = [e.code for e in contract.EXIT_CODES]
    assert len(codes) == len(set(codes))
    assert contract.EXIT_OK.code == 0
    assert all(0 < c < 126 for c in codes[1:])


def test_constants() -> None:
    assert contract.CONTAINER_NAME == "stigmer-agent-runner"
    assert contract.WORKSPACE_MOUNT == "/workspace"
    assert contract.RUNTIME_UID == contract.RUNTIME_GID == 10001
    assert contract.READY_FILE_DEFAULT == "/tmp/agent-runner/ready"
    assert contract.ACTIVITY_NAMES == ("EnsureThread", "ExecuteGraphton", "CleanupSandbox")


def test_markdown_lists_every_variable_and_exit_code() -> None:
    text = contract.render_markdown()
    for var in contract.ENV_VARS:
        assert f"| `{var.name}` |" in text
        for alias in var.aliases:
            assert f"`{alias}`" in text
    for code in contract.EXIT_CODES:
        assert f"| {code.code} | `{code.name}` |" in text
    # Every variable row has six cells (escaped pipes do not split cells).
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert {row.replace("\\|", "").count("|") for row in rows} == {7}


def test_contract_imports_only_stdlib() -> None:
    tree = ast.parse(Path(contract.__file__).read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules
    source = Path(contract.__file__).read_text()
    assert "os.environ" not in source
    assert "getenv" not in source


def test_contract_loads_by_path() -> None:
    spec = importlib.util.spec_from_file_location("contract_by_path", contract.__file__)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["contract_by_path"] = module
    try:
        spec.loader.exec_module(module)
        assert module.render_markdown() == contract.render_markdown()
    finally:
        del sys.modules["contract_by_path"]


def test_readme_table_is_generated_from_the_contract() -> None:
    readme = Path(__file__).parents[3] / "agent-runner" / "README.md"
    text = readme.read_text()
    block = text.split("<!-- contract:begin -->\n", 1)[1].split("<!-- contract:end -->", 1)[0]
    assert block == contract.render_markdown(), "regenerate: python src/agent_runner/contract.py"
