"""Pure planning: what `docker run` (or the from-source process) gets, derived from the contract.

Nothing here touches the machine. `make_run_spec` -> `container_plan` is what `start`
executes and what `start --dry-run` prints (`build_tools.runtime.upstream` makes the same
kind of plan from upstream Stigmer's own argv); `runner_env` is shared with the `--no-docker`
mode so both run the runner with the same environment contract.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from build_tools.docker import docker_run_command
from build_tools.errors import ConfigError
from build_tools.runtime.contract_loader import Contract

ID_FILE_NAME = "agent-runner-container.id"
WORKSPACE_DIR_NAME = "workspace"
# Inside a container on Docker Desktop (macOS, Windows) the host is reachable under this
# name; on Linux the container shares the host network, so loopback addresses just work.
DOCKER_HOST_ALIAS = "host.docker.internal"
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
_ADDRESS_TYPES = {"host:port", "url"}
# Bounded retries: a crash is retried, a configuration error (exit 78) does not loop forever,
# and a container the user stopped stays stopped.
RESTART_POLICY = "on-failure:5"
LOG_DRIVER = "json-file"
LOG_OPTIONS = (("max-size", "10m"), ("max-file", "3"))
# `docker stop` sends SIGKILL after this by default; upstream Stigmer stops the runner with
# that default, so the runner's grace period (8 s by default) is kept below it.
DOCKER_STOP_DEFAULT_SECONDS = 10
# A longer grace period than the default gets at least this much time after it.
STOP_MARGIN_SECONDS = 2
LABEL_PREFIX = "org.stigmer.agent-runner"


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str


@dataclass(frozen=True)
class RunSpec:
    """Everything `docker run --detach` is asked to do."""

    name: str
    image: str
    env: tuple[tuple[str, str], ...]
    secret_names: frozenset[str]
    mounts: tuple[Mount, ...]
    network: str | None
    extra_hosts: tuple[str, ...]
    user: str | None
    log_driver: str
    log_options: tuple[tuple[str, str], ...]
    restart_policy: str
    stop_timeout_seconds: int
    labels: tuple[tuple[str, str], ...]

    @property
    def secret_env(self) -> dict[str, str]:
        """Secret values, handed to the docker client's environment instead of its argv."""
        return {name: value for name, value in self.env if name in self.secret_names}


@dataclass(frozen=True)
class ContainerPlan:
    """What `start` runs: `docker run ARGS` (the host runs it), with `secret_env` in the
    docker client's environment only, after creating `host_dirs` (so the user owns them)."""

    name: str
    image: str
    args: tuple[str, ...]
    secret_env: tuple[tuple[str, str], ...]
    host_dirs: tuple[Path, ...]

    def render(self) -> str:
        """The command `start --dry-run` prints (copy-pasteable; secrets stay in the env)."""
        return docker_run_command(self.args)


def workspace_dir(data_dir: Path) -> Path:
    return data_dir / WORKSPACE_DIR_NAME


def id_file(data_dir: Path) -> Path:
    return data_dir / ID_FILE_NAME


def parse_env_overrides(contract: Contract, pairs: Sequence[str]) -> dict[str, str]:
    """`NAME=VALUE` options -> {canonical name: value}; aliases map to their canonical name."""
    by_name = {name: var.name for var in contract.env_vars for name in var.all_names}
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in by_name:
            raise ConfigError(
                f"Reading --env {pair!r}",
                "it is not NAME=VALUE with NAME a runtime contract variable"
                if sep
                else "it has no '='",
                f"Use one of: {', '.join(sorted(by_name))}.",
            )
        overrides[by_name[name]] = value
    return overrides


def rewrite_loopback(value: str, var_type: str) -> str:
    """Point a loopback address at the Docker Desktop host alias; other hosts pass through."""
    if var_type == "url":
        parts = urllib.parse.urlsplit(value)
        if (parts.hostname or "") not in _LOOPBACK_HOSTS:
            return value
        port = f":{parts.port}" if parts.port else ""
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{DOCKER_HOST_ALIAS}{port}"))
    host, sep, port = value.rpartition(":")
    return f"{DOCKER_HOST_ALIAS}:{port}" if sep and host in _LOOPBACK_HOSTS else value


def runner_env(
    contract: Contract,
    environ: Mapping[str, str],
    overrides: Mapping[str, str],
    *,
    workspace: str,
    rewrite_loopback_to_host: bool,
    fixed: Mapping[str, str] | None = None,
) -> tuple[tuple[str, str], ...]:
    """The runner's environment, in contract order, canonical names only.

    Precedence: `fixed` (what the lifecycle owns: the workspace) -> `overrides` (--env) ->
    the caller's environment (canonical name, then aliases) -> the image's own default.
    Address defaults are spelled out when they must be rewritten for Docker Desktop.
    """
    owned = {"SANDBOX_ROOT_DIR": workspace, **(fixed or {})}
    env: list[tuple[str, str]] = []
    for var in contract.env_vars:
        value: str | None = owned.get(var.name) or overrides.get(var.name)
        if value is None:
            value = next((environ[n] for n in var.all_names if environ.get(n, "") != ""), None)
        is_address = str(var.type) in _ADDRESS_TYPES
        if value is None and is_address and rewrite_loopback_to_host:
            value = var.default
        if value is None:
            continue
        if is_address and rewrite_loopback_to_host:
            value = rewrite_loopback(value, str(var.type))
        env.append((var.name, value))
    return tuple(env)


def stop_seconds_for(grace: float) -> int:
    """How long `docker stop` waits for a runner with this grace period: docker's default,
    or the grace period plus a margin when that is longer."""
    return max(DOCKER_STOP_DEFAULT_SECONDS, math.ceil(grace) + STOP_MARGIN_SECONDS)


def stop_timeout(contract: Contract, env: Sequence[tuple[str, str]]) -> int:
    grace_var = contract.env_var("AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS")
    raw = dict(env).get(grace_var.name) or grace_var.default or "0"
    try:
        grace = float(raw)
    except ValueError:
        raise ConfigError(
            f"Reading {grace_var.name}={raw!r}", "it is not a number", "Give seconds, e.g. 8."
        ) from None
    return stop_seconds_for(grace)


def make_run_spec(
    contract: Contract,
    *,
    image: str,
    name: str,
    os_name: str,
    uid: int | None,
    gid: int | None,
    data_dir: Path,
    version: str,
    environ: Mapping[str, str],
    overrides: Mapping[str, str],
) -> RunSpec:
    """The container the Stigmer CLI runs for `stigmer server start`, for this host."""
    on_linux = os_name == "Linux"
    env = runner_env(
        contract,
        environ,
        overrides,
        workspace=contract.workspace_mount,
        rewrite_loopback_to_host=not on_linux,
    )
    secrets = frozenset(var.name for var in contract.env_vars if var.secret)
    return RunSpec(
        name=name,
        image=image,
        env=env,
        secret_names=secrets & {n for n, _ in env},
        mounts=(Mount(workspace_dir(data_dir), contract.workspace_mount),),
        # Host networking exists only on Linux engines; Docker Desktop gets the host alias.
        network="host" if on_linux else None,
        extra_hosts=() if on_linux else (f"{DOCKER_HOST_ALIAS}:host-gateway",),
        # As the host user, so files the runner writes in the workspace belong to the user.
        user=f"{uid}:{gid}" if uid is not None and gid is not None else None,
        log_driver=LOG_DRIVER,
        log_options=LOG_OPTIONS,
        restart_policy=RESTART_POLICY,
        stop_timeout_seconds=stop_timeout(contract, env),
        labels=((f"{LABEL_PREFIX}.version", version), (f"{LABEL_PREFIX}.data-dir", str(data_dir))),
    )


def docker_run_args(spec: RunSpec) -> list[str]:
    """`docker run` arguments; secrets appear by name only (docker reads them from its env)."""
    args = ["--detach", "--name", spec.name]
    if spec.user:
        args += ["--user", spec.user]
    if spec.network:
        args += ["--network", spec.network]
    for extra_host in spec.extra_hosts:
        args += ["--add-host", extra_host]
    for mount in spec.mounts:
        args += ["--mount", f"type=bind,source={mount.source},target={mount.target}"]
    for env_name, value in spec.env:
        args += ["--env", env_name if env_name in spec.secret_names else f"{env_name}={value}"]
    args += ["--log-driver", spec.log_driver]
    for key, value in spec.log_options:
        args += ["--log-opt", f"{key}={value}"]
    args += ["--restart", spec.restart_policy, "--stop-timeout", str(spec.stop_timeout_seconds)]
    for key, value in spec.labels:
        args += ["--label", f"{key}={value}"]
    return [*args, spec.image]


def container_plan(spec: RunSpec) -> ContainerPlan:
    return ContainerPlan(
        name=spec.name,
        image=spec.image,
        args=tuple(docker_run_args(spec)),
        secret_env=tuple(sorted(spec.secret_env.items())),
        host_dirs=tuple(mount.source for mount in spec.mounts),
    )


def render_docker_run(spec: RunSpec) -> str:
    """The command `start --dry-run` prints (copy-pasteable; secrets stay in the env)."""
    return container_plan(spec).render()
