"""`agent-runner-local`: start, stop, restart, status and logs of agent-runner, as the Stigmer
CLI runs it (`--no-docker`: from source, same contract), and `verify` of its image. Reads
the machine (environment, OS, user ids) only in `main`; `run` gets it all passed in.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from build_tools.config import ToolConfig, load_config
from build_tools.errors import BuildToolsError, ConfigError
from build_tools.host import Host, real_host
from build_tools.project import find_project_root, require_checkout, runner_version
from build_tools.runtime import docker_mode, process_mode
from build_tools.runtime.compose import COMPOSE_FILE_NAME, render_compose
from build_tools.runtime.contract_loader import Contract, read_contract
from build_tools.runtime.docker_mode import Clock
from build_tools.runtime.logs_command import LogsRequest, show_logs
from build_tools.runtime.spec import (
    ContainerPlan,
    container_plan,
    make_run_spec,
    parse_env_overrides,
)
from build_tools.runtime.upstream import FLAVORS, plan_upstream
from build_tools.runtime.verify import plan_verify, verify_image

PROG = "agent-runner-local"
# Under the user's home: where the Stigmer CLI keeps its data (and the container id file).
DEFAULT_DATA_DIR = Path(".stigmer", "data")


@dataclass(frozen=True)
class Machine:
    """What `main` reads from the machine; tests pass their own."""

    environ: Mapping[str, str]
    os_name: str  # platform.system(): Linux, Darwin, Windows
    uid: int | None
    gid: int | None
    home: Path
    python: str  # interpreter for --no-docker (must have agent-runner installed)


def _project_root() -> Path:
    return find_project_root(Path(__file__).resolve().parents[2], Path.cwd())


def resolve_image(config: ToolConfig, version: str, override: str | None) -> str:
    return override or f"{config.registry}/{config.image}:{version}"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="state and workspace (default ~/.stigmer/data)"
    )
    parser.add_argument("--name", help="container name (default: the contract's)")
    parser.add_argument(
        "--no-docker", action="store_true", help="run agent-runner from source, not in Docker"
    )


def _start_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version",
        dest="image_version",
        help="image version; default: agent-runner's version in this checkout",
    )
    parser.add_argument("--image", help="full image reference (overrides --version)")
    parser.add_argument(
        "--pull", choices=docker_mode.PULL_POLICIES, default="missing", help="default: missing"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="readiness wait, seconds")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a runtime contract variable (repeatable; aliases accepted)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would run; run nothing")
    parser.add_argument("--python", help="--no-docker: interpreter with agent-runner installed")
    parser.add_argument(
        "--upstream-argv",
        choices=FLAVORS,
        help="run upstream Stigmer's own `docker run` verbatim: the server's supervisor "
        "(today's CLI) or the migration-era CLI; only the image, paths and the values "
        "upstream reads from the environment are filled in",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="first check the image's signature or attestation (as `verify`); stop if it fails",
    )


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run agent-runner locally exactly as `stigmer server start` does: in Docker "
        "(default) or from source (--no-docker), with the runtime contract's environment.",
        epilog="Exit codes: 0 ok, 2 bad option, 3 Docker not installed, 4 Docker engine not "
        "running, 11 container/process failure, 14 signature does not verify, 15 neither cosign "
        "nor gh installed.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start agent-runner and wait until it is ready")
    _common(start)
    _start_options(start)
    start.add_argument("--restart", action="store_true", help="replace a running one")
    restart = commands.add_parser("restart", help="stop, then start")
    _common(restart)
    _start_options(restart)
    stop = commands.add_parser("stop", help="stop gracefully and remove the container")
    _common(stop)
    status = commands.add_parser("status", help="state, image, uptime, health, poller")
    _common(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    logs = commands.add_parser("logs", help="the runner's log, optionally merged with others")
    _common(logs)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    logs.add_argument("--since", help="e.g. 10m, 2h or 2026-01-31T12:00:00Z")
    logs.add_argument("-t", "--timestamps", action="store_true")
    logs.add_argument(
        "--with", dest="with_files", nargs="+", action="extend", default=[], type=Path,
        metavar="FILE", help="other components' log files, interleaved by timestamp",
    )  # fmt: skip
    verify = commands.add_parser("verify", help="check it was signed by our release workflow")
    verify.add_argument("image", nargs="?", help="default: this checkout's release image")
    compose = commands.add_parser("compose", help=f"print (or --write) {COMPOSE_FILE_NAME}")
    compose.add_argument("--write", action="store_true", help="write it at the project root")
    return parser


@dataclass(frozen=True)
class Context:
    args: argparse.Namespace
    machine: Machine
    contract: Contract
    config: ToolConfig
    host: Host
    clock: Clock
    out: IO[str]

    @property
    def data_dir(self) -> Path:
        chosen: Path | None = self.args.data_dir
        return (chosen or self.machine.home / DEFAULT_DATA_DIR).expanduser().absolute()

    @property
    def name(self) -> str:
        return str(self.args.name or self.contract.container_name)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _overrides(ctx: Context) -> dict[str, str]:
    return parse_env_overrides(ctx.contract, ctx.args.env)


def _start(ctx: Context, replace: bool) -> int:
    args, machine = ctx.args, ctx.machine
    if args.no_docker and args.upstream_argv:
        raise ConfigError(
            "Reading --upstream-argv with --no-docker",
            "upstream's argv starts a container",
            "Drop one of the two options.",
        )
    if args.no_docker and args.verify:
        raise ConfigError(
            "Reading --verify with --no-docker",
            "from source there is no image to verify",
            "Drop one of the two options.",
        )
    if args.no_docker:
        python = args.python or machine.python
        plan = process_mode.make_process_plan(
            ctx.contract,
            python=python,
            data_dir=ctx.data_dir,
            environ=machine.environ,
            overrides=_overrides(ctx),
        )
        if args.dry_run:
            shown = [f"{k}={'***' if k in plan.secret_names else v}" for k, v in plan.env]
            ctx.say(" ".join(["env", *shown, *plan.argv]) + f"  # cwd {plan.cwd}")
            return 0
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        started = process_mode.start(
            ctx.host, ctx.contract, plan, environ=machine.environ, replace=replace,
            timeout=args.timeout, clock=ctx.clock,
        )  # fmt: skip
        what = f"process {started.pid}"
        return _report_start(ctx, what, started.already_running, started.cold_start_seconds,
                             started.ready)  # fmt: skip
    container = _container_plan(ctx)
    if args.dry_run:
        if args.verify:
            which = ctx.host.process.which
            ctx.say(plan_verify(container.image, lambda p: which(p) is not None).render())
        ctx.say(container.render())
        return 0
    if args.verify:
        _verify(ctx, container.image)
    docker_mode.check_docker(ctx.host, machine.os_name)
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    result = docker_mode.start(
        ctx.host, ctx.contract, container, data_dir=ctx.data_dir, pull_policy=args.pull,
        replace=replace, timeout=args.timeout, clock=ctx.clock, log=ctx.out,
    )  # fmt: skip
    what = f"container {result.container_id[:12]} ({container.image})"
    return _report_start(ctx, what, result.already_running, result.cold_start_seconds,
                         result.ready)  # fmt: skip


def _container_plan(ctx: Context) -> ContainerPlan:
    """Ours (from the contract), or upstream's own argv with `--upstream-argv`."""
    args, machine = ctx.args, ctx.machine
    version = args.image_version or runner_version(ctx.config.project_root)
    image = resolve_image(ctx.config, version, args.image)
    if args.upstream_argv:
        if args.env:
            raise ConfigError(
                f"Reading --env with --upstream-argv {args.upstream_argv}",
                "upstream's argv has no such option",
                "Export the variables upstream reads (e.g. TEMPORAL_SERVICE_ADDRESS) instead.",
            )
        return plan_upstream(
            args.upstream_argv, image=image, name=ctx.name, data_dir=ctx.data_dir,
            os_name=machine.os_name, environ=machine.environ,
        )  # fmt: skip
    spec = make_run_spec(
        ctx.contract,
        image=image,
        name=ctx.name,
        os_name=machine.os_name,
        uid=machine.uid,
        gid=machine.gid,
        data_dir=ctx.data_dir,
        version=version,
        environ=machine.environ,
        overrides=_overrides(ctx),
    )
    return container_plan(spec)


def _report_start(
    ctx: Context, what: str, already: bool, cold: float | None, ready: dict[str, Any] | None
) -> int:
    if already:
        ctx.say(f"agent-runner is already running: {what}. Use `start --restart` to replace it.")
        return 0
    runner = (ready or {}).get("startup_seconds")
    ctx.say(
        f"agent-runner is ready: {what}; cold start {cold:.2f} s"
        + (f" (runner startup {runner} s)" if runner is not None else "")
    )
    return 0


def _verify(ctx: Context, image: str | None = None) -> int:
    """`verify` (the image given, else this checkout's release image), or `start --verify`."""
    image = image or ctx.args.image
    image = image or resolve_image(ctx.config, runner_version(ctx.config.project_root), None)
    plan = verify_image(ctx.host.process, image)
    ctx.say(f"{image}: verified with {plan.tool} against {plan.identity}")
    return 0


def _stop(ctx: Context) -> int:
    if ctx.args.no_docker:
        pid = process_mode.stop(ctx.host, ctx.data_dir, ctx.clock)
        ctx.say(f"agent-runner process {pid} stopped" if pid else "agent-runner was not running")
        return 0
    docker_mode.check_docker(ctx.host, ctx.machine.os_name)
    removed = docker_mode.stop(ctx.host, ctx.name, ctx.data_dir)
    ctx.say(
        f"agent-runner container {removed[:12]} stopped and removed"
        if removed
        else f"no {ctx.name} container; nothing to stop"
    )
    return 0


def _status(ctx: Context) -> int:
    if ctx.args.no_docker:
        report = process_mode.status(ctx.host, ctx.data_dir, ctx.clock)
    else:
        docker_mode.check_docker(ctx.host, ctx.machine.os_name)
        report = docker_mode.status(ctx.host, ctx.contract, ctx.name, ctx.data_dir, ctx.clock)
    if ctx.args.json:
        ctx.say(json.dumps(report, indent=2, sort_keys=True))
    else:
        width = max(len(key) for key in report)
        for key, value in report.items():
            ctx.say(f"{key:<{width}}  {'-' if value is None else value}")
    return 0


def _logs(ctx: Context) -> int:
    args = ctx.args
    if not args.no_docker:
        docker_mode.check_docker(ctx.host, ctx.machine.os_name)
    request = LogsRequest(
        follow=args.follow, tail=args.tail, since=args.since, timestamps=args.timestamps,
        with_files=tuple(args.with_files),
    )  # fmt: skip
    source: Path | str = process_mode.log_file(ctx.data_dir) if args.no_docker else ctx.name

    def emit(line: str) -> None:
        print(line, file=ctx.out, flush=True)

    with contextlib.suppress(KeyboardInterrupt):  # the normal end of --follow
        show_logs(ctx.host, source, request, now=ctx.clock.now(), sleep=ctx.clock.sleep, emit=emit)
    return 0


def _compose(ctx: Context) -> int:
    from build_tools.image.plan import DEFAULT_TAG

    text = render_compose(
        ctx.contract,
        # What `nox -s build` loads into the local engine.
        runner_image=f"{ctx.config.image}:{DEFAULT_TAG}",
        temporal_image=ctx.config.effective_temporal_image,
    )
    if ctx.args.write:
        require_checkout(ctx.config.project_root, f"Writing {COMPOSE_FILE_NAME}")
        (ctx.config.project_root / COMPOSE_FILE_NAME).write_text(text, encoding="utf-8")
    else:
        ctx.out.write(text)
    return 0


_HANDLERS: dict[str, Callable[[Context], int]] = {
    "start": lambda ctx: _start(ctx, replace=bool(ctx.args.restart)),
    "restart": lambda ctx: _start(ctx, replace=True),
    "stop": _stop,
    "status": _status,
    "logs": _logs,
    "compose": _compose,
    "verify": _verify,
}


def run(
    argv: Sequence[str],
    machine: Machine,
    *,
    host_factory: Callable[[Mapping[str, str]], Host] = real_host,
    clock: Clock | None = None,
    project_root: Path | None = None,
    out: IO[str] | None = None,
) -> int:
    """Everything `main` does, with the machine passed in (tests call this)."""
    args = make_parser().parse_args(list(argv))
    try:
        root = project_root or _project_root()
        ctx = Context(
            args=args,
            machine=machine,
            contract=read_contract(root),
            config=load_config(root, machine.environ),
            host=host_factory(machine.environ),
            clock=clock or Clock(),
            out=out or sys.stdout,
        )
        return _HANDLERS[args.command](ctx)
    except BuildToolsError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return error.exit_code


def main() -> None:
    getuid = getattr(os, "getuid", None)  # absent on Windows: the image's user is used
    getgid = getattr(os, "getgid", None)
    machine = Machine(
        environ=os.environ,
        os_name=platform.system(),
        uid=getuid() if getuid else None,
        gid=getgid() if getgid else None,
        home=Path.home(),
        python=sys.executable,
    )
    sys.exit(run(sys.argv[1:], machine))
