"""Command line of the toolchain: parse, type (`build_tools.options`), load config, build the
Host, map errors to exit codes.

This is the only place that reads `os.environ` and the only place that exits.

Over 400 lines on purpose: every subcommand's options, typing and lazy handler import sit
side by side here (each a few lines), so the one command-line surface reads in one file.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from build_tools.config import ToolConfig, load_config
from build_tools.errors import BuildToolsError, ConfigError
from build_tools.host import Host, real_host
from build_tools.options import (
    BaseImageArguments,
    BenchArguments,
    BuildArguments,
    ChangelogArguments,
    CheckChangelogArguments,
    CommandArguments,
    ConfigOverrides,
    GatesArguments,
    ProtosArguments,
    PublishArguments,
    ReleaseArguments,
    ReleaseNotesArguments,
    ReportArguments,
    ResolveArguments,
    StartupArguments,
    TemporalImageArguments,
)
from build_tools.platforms import SUPPORTED_PLATFORMS
from build_tools.project import RUNNER_PYPROJECT, find_project_root
from build_tools.release.versioning import parse_cli_version, parse_request

A = TypeVar("A", bound=CommandArguments)


@dataclass(frozen=True)
class Command(Generic[A]):
    """A subcommand: its typed arguments, made from the parsed Namespace, and its handler."""

    arguments: Callable[[argparse.Namespace], A]
    handler: Callable[[A, ToolConfig, Host], int]

    def run(
        self,
        namespace: argparse.Namespace,
        load_config: Callable[[ConfigOverrides], ToolConfig],
        make_host: Callable[[], Host],
    ) -> int:
        """Type the arguments (refusing bad values), load the settings, then handle."""
        arguments = self.arguments(namespace)
        return self.handler(arguments, load_config(arguments.overrides), make_host())


def _project_root() -> Path:
    return find_project_root(Path(__file__).resolve().parent.parent, Path.cwd())


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
        help=f"comma-separated target platforms, e.g. {','.join(SUPPORTED_PLATFORMS)}",
    )
    parser.add_argument("--builder", help="buildx builder to use (e.g. a remote BuildKit)")


def _common_overrides(args: argparse.Namespace, registry: str | None = None) -> ConfigOverrides:
    """The settings `_add_common`'s options (and a command's `--registry`) override."""
    return ConfigOverrides(args.offline, args.platforms, args.builder, registry)


# -- each command: its Namespace, typed; then its handler (imports are lazy: start-up time) --


def _build_arguments(args: argparse.Namespace) -> BuildArguments:
    return BuildArguments(
        overrides=_common_overrides(args, args.registry),
        push=args.push,
        tags=tuple(args.tag or ()),
        version=args.image_version,
        dry_run=args.dry_run,
        json=args.json,
        no_cache=args.no_cache,
        report_dir=args.report_dir,
        bytecode=None if args.bytecode is None else args.bytecode == "yes",
        sources=None if args.sources is None else args.sources == "yes",
    )


def _build_handler(args: BuildArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.image.build import run_build

    return run_build(args, config, host)


def _gates_arguments(args: argparse.Namespace) -> GatesArguments:
    # --platform is repeatable here and each may be a comma list: one list for load_config.
    platforms = ",".join(args.platforms) if args.platforms else None
    overrides = ConfigOverrides(
        platforms=platforms,
        layer_efficiency=args.layer_efficiency,
        wasted_mb=args.wasted_mb,
        user_wasted_ratio=args.user_wasted_ratio,
    )
    return GatesArguments(args.image, overrides, report_dir=args.report_dir, dry_run=args.dry_run)


def _gates_handler(args: GatesArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.image.gates import run_gates

    return run_gates(args, config, host)


def _add_gates_command(commands: Any) -> None:
    gates = commands.add_parser(
        "gates", help="structure test and layer-efficiency gate of a pushed image, per platform"
    )
    gates.add_argument("--image", required=True, help="pushed image (index or manifest) to gate")
    gates.add_argument(
        "--platform",
        dest="platforms",
        action="append",
        help="platform to gate (repeatable or comma-separated; default: the configured ones)",
    )
    gates.add_argument("--report-dir", type=Path, help="where gates.json/.md go")
    gates.add_argument("--layer-efficiency", type=float, help="lowest dive efficiency, 0-1")
    gates.add_argument("--wasted-mb", type=float, help="most wasted bytes, in MB")
    gates.add_argument("--user-wasted-ratio", type=float, help="highest wasted share, 0-1")
    gates.add_argument("--dry-run", action="store_true", help="print the plan; run nothing")
    gates.set_defaults(handler=Command(_gates_arguments, _gates_handler))


def _base_image_arguments(args: argparse.Namespace) -> BaseImageArguments:
    return BaseImageArguments(_common_overrides(args), force=args.force, dry_run=args.dry_run)


def _base_image_handler(args: BaseImageArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.image.base_image import run_base_image

    return run_base_image(args, config, host)


def _bench_arguments(args: argparse.Namespace) -> BenchArguments:
    return BenchArguments(_common_overrides(args), report_dir=args.report_dir)


def _bench_handler(args: BenchArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.image.bench import run_bench

    return run_bench(args, config, host)


def _temporal_image_arguments(args: argparse.Namespace) -> TemporalImageArguments:
    return TemporalImageArguments(force=args.force, dry_run=args.dry_run)


# The test bed (build_tools.testbed) is imported only inside these two handlers: the rest of
# the toolchain runs without its extra (tests/unit/test_architecture.py checks).
def _temporal_image_handler(args: TemporalImageArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.testbed.temporal_image import run_temporal_image

    return run_temporal_image(args, config, host)


def _startup_arguments(args: argparse.Namespace) -> StartupArguments:
    return StartupArguments(image=args.image, runs=args.runs, report_dir=args.report_dir)


def _startup_handler(args: StartupArguments, config: ToolConfig, host: Host) -> int:
    from build_tools import testbed

    testbed.require_extra("Measuring cold start")
    from build_tools.testbed.cold_start import run_startup

    return run_startup(args, config, host)


def _protos_arguments(args: argparse.Namespace) -> ProtosArguments:
    return ProtosArguments(check=args.check, out=args.out)


def _protos_handler(args: ProtosArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.protos import run_protos

    return run_protos(args, config, host)


def _release_arguments(args: argparse.Namespace) -> ReleaseArguments:
    overrides = ConfigOverrides(registry=args.registry)
    return ReleaseArguments(parse_request(args.bump), dry_run=args.dry_run, overrides=overrides)


def _release_handler(args: ReleaseArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.release.cut import run_release

    return run_release(args, config, host)


def _publish_arguments(args: argparse.Namespace) -> PublishArguments:
    digest: str | None = args.from_digest
    if digest is not None and re.fullmatch(r"sha256:[0-9a-f]{64}", digest) is None:
        raise ConfigError(
            f"Reading --from-digest {digest}",
            "it is not an index digest (sha256: and 64 hex digits)",
            "Pass the digest publish --stage-only printed.",
        )
    return PublishArguments(
        _common_overrides(args, args.registry),
        dry_run=args.dry_run,
        stage_only=args.stage_only,
        from_digest=digest,
    )


def _publish_handler(args: PublishArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.release.publish import run_publish

    return run_publish(args, config, host)


def _resolve_arguments(args: argparse.Namespace) -> ResolveArguments:
    overrides = ConfigOverrides(registry=args.registry)
    return ResolveArguments(parse_cli_version(args.version), overrides=overrides)


def _resolve_handler(args: ResolveArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.release.publish import resolve

    print(resolve(host, f"{config.registry}/{config.image}", args.version))
    return 0


def _changelog_arguments(args: argparse.Namespace) -> ChangelogArguments:
    return ChangelogArguments(summary=args.summary, kind=args.kind)


def _changelog_handler(args: ChangelogArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.release.changelog import run_changelog

    return run_changelog(args, config, host)


def _check_changelog_arguments(args: argparse.Namespace) -> CheckChangelogArguments:
    return CheckChangelogArguments()


def _check_changelog_handler(args: CheckChangelogArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.release.changelog import run_check_changelog

    return run_check_changelog(args, config, host)


def _release_notes_arguments(args: argparse.Namespace) -> ReleaseNotesArguments:
    return ReleaseNotesArguments(tag=args.tag)


def _release_notes_handler(args: ReleaseNotesArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.release.cut import run_release_notes

    return run_release_notes(args, config, host)


def _report_arguments(args: argparse.Namespace) -> ReportArguments:
    return ReportArguments(reports=args.reports, baseline=args.baseline, output=args.output)


def _report_handler(args: ReportArguments, config: ToolConfig, host: Host) -> int:
    from build_tools.reporting.command import run_report

    return run_report(args, config, host)


def _add_report_command(commands: Any) -> None:
    report = commands.add_parser("report", help="one HTML page (charts) of the JSON reports")
    report.add_argument("--reports", type=Path, help="the reports (default: build/reports)")
    report.add_argument("--baseline", type=Path, help="reports to compare with (a directory)")
    report.add_argument("--output", type=Path, help="the page (default: REPORTS/report.html)")
    report.set_defaults(handler=Command(_report_arguments, _report_handler))


def _add_release_commands(commands: Any) -> None:
    release = commands.add_parser("release", help="bump, commit and tag a new version")
    release.add_argument(
        "bump",
        help=f"patch, minor or major: bump the higher of {RUNNER_PYPROJECT}'s version "
        "and the last release (a fresh 0.1.0 gives 0.1.1, 0.2.0, 1.0.0); or an explicit "
        "X.Y.Z[-label.N], not below the pyproject's (naming the pyproject's never-released "
        "version releases it as it is: a tag on HEAD, no commit)",
    )
    release.add_argument("--registry", help="registry whose tags must not hold the version")
    release.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    release.set_defaults(handler=Command(_release_arguments, _release_handler))

    publish = commands.add_parser("publish", help="push the tagged release and write its tags")
    _add_common(publish)
    publish.add_argument("--registry", help="registry to publish to (default: the configured one)")
    publish.add_argument("--dry-run", action="store_true", help="print every ref; push nothing")
    half = publish.add_mutually_exclusive_group()
    half.add_argument(
        "--stage-only",
        action="store_true",
        help="build, push by digest and check; print the digest, write no release tag",
    )
    half.add_argument(
        "--from-digest", metavar="DIGEST", help="write the release tags onto this staged digest"
    )
    publish.set_defaults(handler=Command(_publish_arguments, _publish_handler))

    resolve = commands.add_parser("resolve", help="print the pinned image a CLI version pulls")
    resolve.add_argument("version", help="X.Y.Z[-label.N] (a leading v is accepted)")
    resolve.add_argument("--registry", help="registry to look in (default: the configured one)")
    resolve.set_defaults(handler=Command(_resolve_arguments, _resolve_handler))

    entry = commands.add_parser("changelog", help="create a _changelog/ entry from a summary")
    entry.add_argument("summary", help="one line, at most 120 characters")
    entry.add_argument("--type", dest="kind", required=True, help="feature|fix|breaking|...")
    entry.set_defaults(handler=Command(_changelog_arguments, _changelog_handler))

    check = commands.add_parser("check-changelog", help="validate _changelog/ names and fields")
    check.set_defaults(handler=Command(_check_changelog_arguments, _check_changelog_handler))

    notes = commands.add_parser("release-notes", help="print the release notes of a vX.Y.Z tag")
    notes.add_argument("tag", help="an existing release tag, e.g. v1.4.0")
    notes.set_defaults(handler=Command(_release_notes_arguments, _release_notes_handler))


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-runner-build",
        description="Build, measure and release the agent-runner container image.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the image and enforce the size budget")
    _add_common(build)
    build.add_argument(
        "--push",
        action="store_true",
        help="build every configured platform (or --platform) and push instead of loading",
    )
    build.add_argument(
        "--registry",
        help="registry to push to (default: the configured one; with --offline the local one)",
    )
    build.add_argument("--tag", action="append", default=None, help="extra tag (repeatable)")
    build.add_argument("--version", dest="image_version", help="version label and tag")
    build.add_argument("--dry-run", action="store_true", help="print the plan; build nothing")
    build.add_argument("--json", action="store_true", help="with --dry-run: print the plan as JSON")
    build.add_argument("--no-cache", action="store_true", help="build without the layer cache")
    build.add_argument("--report-dir", type=Path, help="where the JSON/Markdown reports go")
    build.add_argument(
        "--bytecode",
        choices=("yes", "no"),
        default=None,
        help="ship precompiled bytecode (default: the Dockerfile's measured choice)",
    )
    build.add_argument(
        "--sources",
        choices=("yes", "no"),
        default=None,
        help="ship the dependencies' .py sources next to their bytecode "
        "(default: the Dockerfile's measured choice)",
    )
    build.set_defaults(handler=Command(_build_arguments, _build_handler))

    base = commands.add_parser("base-image", help="seed the offline Python 3.13 base image")
    _add_common(base)
    base.add_argument("--force", action="store_true", help="rebuild even if it is present")
    base.add_argument("--dry-run", action="store_true", help="print the plan; build nothing")
    base.set_defaults(handler=Command(_base_image_arguments, _base_image_handler))

    bench = commands.add_parser("bench", help="measure cold, warm and cross-platform builds")
    _add_common(bench)
    bench.add_argument("--report-dir", type=Path, help="where the JSON/Markdown reports go")
    bench.set_defaults(handler=Command(_bench_arguments, _bench_handler))

    temporal = commands.add_parser(
        "temporal-image", help="build (or pull) the Temporal dev-server image the smoke tests use"
    )
    temporal.add_argument("--force", action="store_true", help="rebuild even if it is present")
    temporal.add_argument("--dry-run", action="store_true", help="print the plan; build nothing")
    temporal.set_defaults(handler=Command(_temporal_image_arguments, _temporal_image_handler))

    startup = commands.add_parser(
        "startup", help="measure cold start and idle memory of an image and enforce the budgets"
    )
    startup.add_argument("--image", required=True, help="agent-runner image to measure")
    startup.add_argument("--runs", type=int, default=5, help="cold starts to measure (default 5)")
    startup.add_argument("--report-dir", type=Path, help="where the JSON/Markdown reports go")
    startup.set_defaults(handler=Command(_startup_arguments, _startup_handler))

    protos = commands.add_parser(
        "protos", help="regenerate agent-runner's protobuf code from its .proto files"
    )
    protos.add_argument("--check", action="store_true", help="compare with the committed code")
    protos.add_argument("--out", type=Path, help="generate under DIR instead of agent-runner/src")
    protos.set_defaults(handler=Command(_protos_arguments, _protos_handler))

    _add_gates_command(commands)
    _add_release_commands(commands)
    _add_report_command(commands)
    return parser


def run(
    argv: Sequence[str],
    environ: Mapping[str, str],
    host_factory: Callable[[Mapping[str, str]], Host] = real_host,
    project_root: Path | None = None,
) -> int:
    """Everything `main` does, with the outside world passed in (tests call this)."""
    namespace = make_parser().parse_args(list(argv))
    command: Command[Any] = namespace.handler

    def load(overrides: ConfigOverrides) -> ToolConfig:
        return load_config(project_root or _project_root(), environ, overrides.as_settings())

    try:
        return command.run(namespace, load, lambda: host_factory(environ))
    except BuildToolsError as error:
        print(f"agent-runner-build: {error}", file=sys.stderr)
        return error.exit_code


def main() -> None:
    sys.exit(run(sys.argv[1:], os.environ))
