"""Command line of the toolchain: parse, load config, build the Host, map errors to exit codes.

This is the only place that reads `os.environ` and the only place that exits.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from build_tools.config import ToolConfig, load_config
from build_tools.errors import BuildToolsError
from build_tools.host import Host, RealHost

Handler = Callable[[argparse.Namespace, ToolConfig, Host], int]


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--offline",
        action="store_const",
        const=True,
        default=None,
        help="use the locally built base image instead of the configured one",
    )
    parser.add_argument(
        "--platform",
        dest="platforms",
        help="comma-separated target platforms, e.g. linux/amd64,linux/arm64",
    )
    parser.add_argument("--builder", help="buildx builder to use (e.g. a remote BuildKit)")


def _build_handler(args: argparse.Namespace, config: ToolConfig, host: Host) -> int:
    from build_tools.build import run_build

    return run_build(args, config, host)


def _base_image_handler(args: argparse.Namespace, config: ToolConfig, host: Host) -> int:
    from build_tools.base_image import run_base_image

    return run_base_image(args, config, host)


def _bench_handler(args: argparse.Namespace, config: ToolConfig, host: Host) -> int:
    from build_tools.bench import run_bench

    return run_bench(args, config, host)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-runner-build",
        description="Build, measure and release the agent-runner container image.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the image and enforce the size budget")
    _add_common(build)
    build.add_argument("--push", action="store_true", help="push to --registry instead of loading")
    build.add_argument("--registry", help="registry to push to (default: the configured one)")
    build.add_argument("--tag", action="append", default=None, help="extra tag (repeatable)")
    build.add_argument("--version", dest="image_version", help="version label and tag")
    build.add_argument("--dry-run", action="store_true", help="print the plan; build nothing")
    build.add_argument("--no-cache", action="store_true", help="build without the layer cache")
    build.add_argument("--report-dir", type=Path, help="where the JSON/Markdown reports go")
    build.add_argument(
        "--bytecode",
        choices=("yes", "no"),
        default=None,
        help="ship precompiled bytecode (default: the Dockerfile's measured choice)",
    )
    build.set_defaults(handler=_build_handler)

    base = commands.add_parser("base-image", help="seed the offline Python 3.13 base image")
    _add_common(base)
    base.add_argument("--force", action="store_true", help="rebuild even if it is present")
    base.add_argument("--dry-run", action="store_true", help="print the plan; build nothing")
    base.set_defaults(handler=_base_image_handler)

    bench = commands.add_parser("bench", help="measure cold, warm and cross-platform builds")
    _add_common(bench)
    bench.add_argument("--report-dir", type=Path, help="where the JSON/Markdown reports go")
    bench.set_defaults(handler=_bench_handler)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = ("offline", "platforms", "builder", "registry")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def run(
    argv: Sequence[str],
    environ: Mapping[str, str],
    host_factory: Callable[[Mapping[str, str]], Host] = RealHost,
    project_root: Path | None = None,
) -> int:
    """Everything `main` does, with the outside world passed in (tests call this)."""
    args = make_parser().parse_args(list(argv))
    try:
        config = load_config(project_root or _project_root(), environ, _overrides(args))
        handler: Handler = args.handler
        return handler(args, config, host_factory(environ))
    except BuildToolsError as error:
        print(f"agent-runner-build: {error}", file=sys.stderr)
        return error.exit_code


def main() -> None:
    sys.exit(run(sys.argv[1:], os.environ))
