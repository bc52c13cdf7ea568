"""Resolve and validate configuration, reading only through ``contract.ENV_VARS``."""

from __future__ import annotations

import os
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from agent_runner import contract
from agent_runner.contract import ENV_VARS, EnvVar, ExitCode, VarType, env_var


class ConfigError(Exception):
    """A configuration problem; ``line`` is the one line printed to stderr."""

    def __init__(self, line: str, exit_code: ExitCode = contract.EXIT_CONFIG_INVALID) -> None:
        super().__init__(line)
        self.line = line
        self.exit_code = exit_code


@dataclass(frozen=True)
class Config:
    mode: str
    temporal_address: str
    namespace: str
    task_queue: str
    max_concurrency: int
    backend_endpoint: str
    backend_api_key: str | None
    sandbox_type: str
    sandbox_root: Path
    log_level: str
    llm_provider: str
    llm_model: str
    ollama_base_url: str
    # The key for llm_provider: STIGMER_LLM_API_KEY, else the provider's own variable.
    llm_api_key: str | None
    anthropic_api_key: str | None
    openai_api_key: str | None
    llm_max_tokens: int
    llm_temperature: float | None
    shutdown_grace_seconds: float
    connect_give_up_seconds: float
    ready_file: Path
    llm_timeout_seconds: float
    heartbeat_seconds: float
    status_update_seconds: float
    # "1": load the agent framework in the background once polling (agent_runner.warmup).
    warmup: str

    def masked(self) -> dict[str, object]:
        """Resolved values keyed by variable name, secrets masked (for the banner)."""
        out: dict[str, object] = {}
        for var in ENV_VARS:
            if var.inert:
                continue
            value = getattr(self, var.field)
            if var.secret and value:
                value = "***"
            out[var.name] = str(value) if isinstance(value, Path) else value
        return out


@dataclass(frozen=True)
class Resolved:
    config: Config
    warnings: tuple[str, ...]


_HOST_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$")


def _invalid(label: str, raw: str, because: str, fix: str, var: EnvVar) -> ConfigError:
    shown = "***" if var.secret else repr(raw)
    return ConfigError(
        f"agent-runner: {label}={shown} is invalid because {because}. Set {var.name} to {fix}."
    )


def _lookup(var: EnvVar, env: Mapping[str, str], warnings: list[str]) -> tuple[str, str | None]:
    """Return (name that supplied the value, raw value); empty strings count as unset."""
    present = [(n, env[n]) for n in var.all_names if env.get(n, "") != ""]
    if not present:
        return var.name, None
    chosen_name, chosen = present[0]
    for other_name, other in present[1:]:
        if other != chosen:
            warnings.append(
                f"{chosen_name} and {other_name} are both set with different values; "
                f"using {chosen_name} ({other_name} is an alias of {var.name})"
            )
    return chosen_name, chosen


class _Bad(Exception):
    def __init__(self, because: str, fix: str) -> None:
        super().__init__(because)
        self.because = because
        self.fix = fix


def _choice(var: EnvVar, raw: str) -> object:
    # LOG_LEVEL is the one case-insensitive choice (debug == DEBUG by convention).
    value = raw.upper() if var.name == "LOG_LEVEL" else raw
    if value not in var.choices:
        raise _Bad("it must be one of " + ", ".join(var.choices), " or ".join(var.choices))
    return value


def _positive_int(var: EnvVar, raw: str) -> object:
    if not raw.strip().isdigit() or int(raw) < 1:
        raise _Bad("it is not a positive integer", "a whole number >= 1")
    return int(raw)


def _non_negative(raw: str, fix: str) -> float:
    try:
        number = float(raw)
    except ValueError:
        number = -1.0
    # "not >= 0" also rejects NaN.
    if not number >= 0 or number == float("inf"):
        raise _Bad("it is not a non-negative number", fix)
    return number


def _seconds(var: EnvVar, raw: str) -> object:
    return _non_negative(raw, "seconds, e.g. 30")


def _number(var: EnvVar, raw: str) -> object:
    return _non_negative(raw, "a number, e.g. 0.2")


def _host_port(var: EnvVar, raw: str) -> object:
    host, sep, port = raw.rpartition(":")
    if not sep or not _HOST_RE.match(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _Bad("it is not host:port with a port 1-65535", "host:port, e.g. temporal:7233")
    return raw


def _url(var: EnvVar, raw: str) -> object:
    parsed = urllib.parse.urlsplit(raw)
    try:
        valid = parsed.scheme in ("http", "https") and bool(parsed.hostname)
        _ = parsed.port  # raises on a non-numeric or out-of-range port
    except ValueError:
        valid = False
    if not valid:
        raise _Bad(
            "it is not an http(s) URL with a host and valid port", "a URL like http://host:port"
        )
    return raw.rstrip("/")


_PARSERS: dict[VarType, Callable[[EnvVar, str], object]] = {
    VarType.CHOICE: _choice,
    VarType.POSITIVE_INT: _positive_int,
    VarType.NON_NEGATIVE_FLOAT: _seconds,
    VarType.NUMBER: _number,
    VarType.HOST_PORT: _host_port,
    VarType.URL: _url,
    VarType.PATH: lambda _var, raw: Path(raw),
    VarType.STRING: lambda _var, raw: raw,
}


def _parse(var: EnvVar, label: str, raw: str) -> object:
    try:
        return _PARSERS[var.type](var, raw)
    except _Bad as bad:
        raise _invalid(label, raw, bad.because, bad.fix, var) from None


def load_config(env: Mapping[str, str]) -> Resolved:
    """Pure: resolve every declared variable from ``env``; raise ConfigError on the first error."""
    warnings: list[str] = []
    values: dict[str, object] = {}
    raw_by_name: dict[str, str | None] = {}
    for var in ENV_VARS:
        name, raw = _lookup(var, env, warnings)
        raw_by_name[var.name] = raw
        if var.inert:
            continue
        label = name if name == var.name else f"{name} (alias of {var.name})"
        source = raw if raw is not None else var.default
        values[var.field] = None if source is None else _parse(var, label, source)
    warnings += _inert_warnings(raw_by_name)

    mode = str(values["mode"])
    for var in ENV_VARS:
        if mode in var.required_in_modes and raw_by_name[var.name] is None:
            names = " or ".join(var.all_names)
            raise ConfigError(
                f"agent-runner: {var.name} is invalid because it is unset and MODE={mode} "
                f"requires it. Set {names} to {var.description[0].lower()}"
                f"{var.description[1:].rstrip('.')}."
            )

    if values["llm_provider"] is None:
        values["llm_provider"] = "anthropic" if mode == "cloud" else "ollama"
    provider = str(values["llm_provider"])
    if values["llm_model"] is None:
        values["llm_model"] = contract.DEFAULT_MODELS[provider]
    if values["llm_max_tokens"] is None:
        values["llm_max_tokens"] = contract.DEFAULT_MAX_TOKENS[mode]
    if values["llm_temperature"] is None:
        values["llm_temperature"] = contract.DEFAULT_TEMPERATURE[mode]
    own_key = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}.get(provider)
    if own_key is not None:
        values["llm_api_key"] = values["llm_api_key"] or values[env_var(own_key).field]
        if not values["llm_api_key"]:
            raise ConfigError(
                f"agent-runner: STIGMER_LLM_API_KEY is invalid because it is unset and "
                f"STIGMER_LLM_PROVIDER={provider} needs it. Set STIGMER_LLM_API_KEY or "
                f"{own_key} to the {provider} API key."
            )

    declared = {f.name for f in fields(Config)}
    assert declared == set(values), "contract and Config disagree"
    return Resolved(Config(**values), tuple(warnings))  # type: ignore[arg-type]


def _inert_warnings(raw_by_name: Mapping[str, str | None]) -> list[str]:
    """One line per variable that upstream clients pass and this image cannot honour."""
    lines = []
    for var in ENV_VARS:
        raw = raw_by_name[var.name]
        if not var.inert or raw is None or raw in var.honoured:
            continue
        if var.name in contract.SANDBOX_MODE_VARS:
            continue  # settings of sandbox execution, which warns itself when asked for
        shown = "***" if var.secret else repr(raw)
        lines.append(f"{var.name}={shown} is accepted but not acted on: {var.description}")
    return lines


def _probe_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    resolved = directory.resolve(strict=True)
    with tempfile.NamedTemporaryFile(dir=resolved, prefix=".write-probe-"):
        pass
    return resolved


def check_sandbox(config: Config) -> Path:
    """Prove the sandbox root and the readiness file's directory are writable.

    Returns the resolved sandbox root. Done at startup so a bad mount fails fast
    with its own exit code instead of failing the first activity.
    """
    checks = (
        ("SANDBOX_ROOT_DIR", config.sandbox_root, contract.EXIT_SANDBOX_NOT_WRITABLE),
        ("AGENT_RUNNER_READY_FILE", config.ready_file.parent, contract.EXIT_CONFIG_INVALID),
    )
    resolved: list[Path] = []
    for name, directory, code in checks:
        try:
            resolved.append(_probe_dir(directory))
        except OSError as exc:
            shown = config.ready_file if name == "AGENT_RUNNER_READY_FILE" else directory
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(
                f"agent-runner: {name}={str(shown)!r} is invalid because {directory} cannot be "
                f"created or written ({reason}). Set {name} to a path writable by uid "
                f"{os.getuid()}.",
                code,
            ) from exc
    return resolved[0]
