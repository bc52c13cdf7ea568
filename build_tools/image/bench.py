"""Build benchmark: cold, warm after a code-only change, and arm64 against amd64, in one run.

Each case is the request `build --push --platform P` plans (`build_tools.image.plan`), pushed to
the local registry under `bench/agent-runner` with one set of source facts and one clock
reading for the whole run. Cases, in order (the warm case relies on the cache the first
one leaves):
1. cold amd64: `--no-cache`, from a fresh copy of the build context;
2. warm amd64: a comment appended to one module under agent-runner/src, cache on;
3. cold arm64: `--no-cache` (cross-built; the Dockerfile avoids emulated RUN steps).
Ratios against goals: warm/cold <= 0.1 and arm64/amd64 <= 1.5. Timings on a shared
machine are noisy, so goals are reported (a missed goal is a `fail` row) but the command
exits 0 unless a build fails. The wheelhouse is prepared first, as `build` does, and timed
apart.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from build_tools.config import ToolConfig
from build_tools.docker import BuildxRequest, stderr_log
from build_tools.errors import BuildError
from build_tools.host import Host
from build_tools.image.plan import BuildOptions, SourceInfo, make_build_plan
from build_tools.image.wheelhouse import prepare_image_wheelhouse
from build_tools.options import BenchArguments
from build_tools.platforms import LINUX_AMD64, LINUX_ARM64
from build_tools.project import RUNNER_SOURCES
from build_tools.report import Report, Row, default_report_dir, to_markdown, write_report

Clock = Callable[[], float]
# (config, platform, tag, no_cache) -> the request `nox -s build` would make for that platform.
RequestMaker = Callable[[ToolConfig, str, str, bool], BuildxRequest]

BENCH_REPOSITORY = "bench/agent-runner"
WARM_GOAL = 0.1  # warm rebuild time / cold build time
ARM64_GOAL = 1.5  # cold arm64 build time / cold amd64 build time
AMD64, ARM64 = LINUX_AMD64.name, LINUX_ARM64.name
CODE_DIR = RUNNER_SOURCES
# Never part of an image's context: VCS data, caches, and generated files other than the
# wheelhouse (large, and re-created by other commands).
_SKIPPED_AT_ROOT = {".git", ".nox", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "dist"}
_KEPT_IN_BUILD = {"wheelhouse"}


@dataclass(frozen=True)
class BenchCase:
    name: str  # "cold", "warm"
    platform: str
    request: BuildxRequest
    change_code: bool = False  # append a comment to one module first (a code-only change)


@dataclass(frozen=True)
class BenchTiming:
    name: str
    platform: str
    seconds: float


# -- planning -------------------------------------------------------------------------------


def bench_tag(config: ToolConfig, name: str, platform: str) -> str:
    return f"{config.local_registry}/{BENCH_REPOSITORY}:{name}-{platform.partition('/')[2]}"


def bench_cases(config: ToolConfig, make_request: RequestMaker) -> tuple[BenchCase, ...]:
    """The builds to time, in order, each pushed to the local registry."""

    def case(name: str, platform: str, *, no_cache: bool, change_code: bool = False) -> BenchCase:
        planned = make_request(config, platform, bench_tag(config, name, platform), no_cache)
        request = replace(planned, push=True, load=False, provenance=False, sbom=False)
        return BenchCase(name, platform, request, change_code)

    cases = [
        case("cold", AMD64, no_cache=True),
        case("warm", AMD64, no_cache=False, change_code=True),
    ]
    if ARM64 in config.platforms:
        cases.append(case("cold", ARM64, no_cache=True))
    return tuple(cases)


def in_context(cases: Sequence[BenchCase], context: Path) -> tuple[BenchCase, ...]:
    """The same cases building from `context` (a copy of their shared context) instead."""
    if len({case.request.context for case in cases}) != 1:
        raise BuildError(
            "Planning the build benchmark",
            "the planned builds do not share one build context",
            "Plan every platform's build from the same context directory.",
        )
    return tuple(replace(case, request=relocate(case.request, context)) for case in cases)


def relocate(request: BuildxRequest, context: Path) -> BuildxRequest:
    """The same request with its context (and a Dockerfile inside it) moved to `context`."""
    dockerfile = request.dockerfile
    if dockerfile.is_relative_to(request.context):
        dockerfile = context / dockerfile.relative_to(request.context)
    return replace(request, context=context, dockerfile=dockerfile)


def code_file(context: Path) -> Path:
    """The module a code-only change touches: the first one under agent-runner/src."""
    modules = sorted((context / CODE_DIR).rglob("*.py"))
    if not modules:
        raise BuildError(
            "Preparing the warm-rebuild case",
            f"there is no Python module under {context / CODE_DIR}",
            "Run the benchmark from a checkout that contains agent-runner/src.",
        )
    return modules[0]


def change_code(context: Path, marker: str) -> Path:
    """Append a unique comment (a unique one, so no earlier run's cache entry matches)."""
    path = code_file(context)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n# build benchmark: code-only change {marker}\n")
    return path


def copy_context(source: Path, target: Path) -> Path:
    """A fresh copy of the build context, without VCS data, caches or other build outputs."""

    def ignored(directory: str, names: list[str]) -> set[str]:
        here = Path(directory)
        skipped = {name for name in names if name == "__pycache__"}
        if here == source:
            skipped |= _SKIPPED_AT_ROOT & set(names)
        if here == source / "build":
            skipped |= set(names) - _KEPT_IN_BUILD
        return skipped

    shutil.copytree(source, target, symlinks=True, ignore=ignored)
    return target


# -- running ---------------------------------------------------------------------------------


def time_cases(
    cases: Sequence[BenchCase],
    host: Host,
    *,
    clock: Clock,
    log: IO[str],
    marker: str,
) -> list[BenchTiming]:
    """Run each build in order and time it; a code change happens before the clock starts."""
    timings = []
    for case in cases:
        if case.change_code:
            changed = change_code(case.request.context, marker)
            log.write(f"bench: appended a comment to {changed}\n")
        log.write(f"bench: {case.name} build for {case.platform} -> {case.request.tags[0]}\n")
        started = clock()
        host.docker.buildx_build(case.request, log=log)
        timings.append(BenchTiming(case.name, case.platform, clock() - started))
    return timings


def _seconds(timings: Sequence[BenchTiming], name: str, platform: str) -> float | None:
    found = [t.seconds for t in timings if t.name == name and t.platform == platform]
    return found[0] if found else None


def _label(timing: BenchTiming) -> str:
    return "cold build" if timing.name == "cold" else "warm rebuild (code change)"


def bench_report(
    timings: Sequence[BenchTiming],
    extra_rows: Sequence[Row] = (),
    details: Mapping[str, Any] | None = None,
) -> Report:
    """Build times and their ratios against the goals."""
    rows = [Row(_label(t), t.platform, round(t.seconds, 2), "s") for t in timings]
    cold_amd64 = _seconds(timings, "cold", AMD64)
    warm_amd64 = _seconds(timings, "warm", AMD64)
    cold_arm64 = _seconds(timings, "cold", ARM64)
    notes = [
        "Cold builds use --no-cache on a fresh copy of the context; the warm rebuild follows a "
        "comment appended to one agent-runner module. Each time includes the push to the "
        "local registry. Goals are reported, not enforced: timings on a shared machine are noisy."
    ]
    if cold_amd64 and warm_amd64 is not None:
        ratio = round(warm_amd64 / cold_amd64, 3)
        rows.append(Row.gated("warm/cold build time", AMD64, ratio, "ratio", WARM_GOAL))
    if cold_amd64 and cold_arm64 is not None:
        ratio = round(cold_arm64 / cold_amd64, 3)
        rows.append(
            Row.gated("arm64/amd64 cold build time", "cold builds", ratio, "ratio", ARM64_GOAL)
        )
    else:
        notes.append(f"No arm64 build in this run ({ARM64} is not a configured platform).")
    rows.extend(extra_rows)
    return Report("Build benchmark", tuple(rows), tuple(notes), details)


def plan_request_maker(source: SourceInfo, source_date: datetime) -> RequestMaker:
    """Requests from the shared build plan, as `build --push --platform P` would make them.

    One `source` and `source_date` (SOURCE_DATE_EPOCH, the commit time) for every case, so
    the warm rebuild differs from the cold build only by the code change.
    """

    def make(config: ToolConfig, platform: str, tag: str, no_cache: bool) -> BuildxRequest:
        options = BuildOptions(
            host_platform=platform,
            platforms=(platform,),
            push=True,
            registry=config.local_registry,
            no_cache=no_cache,
        )
        plan = make_build_plan(config, options, source, source_date)
        return replace(plan.request(), tags=(tag,))  # only the bench tag, not the release ones

    return make


Preparer = Callable[[ToolConfig, Sequence[str], Host, IO[str]], None]


def run_bench(
    args: BenchArguments,
    config: ToolConfig,
    host: Host,
    *,
    clock: Clock = time.perf_counter,
    make_request: RequestMaker | None = None,
    prepare: Preparer = prepare_image_wheelhouse,
    log: IO[str] | None = None,
) -> int:
    """`nox -s bench`: time the cases, write build/reports/bench.{json,md}, print the table."""
    out = log or stderr_log()
    host.docker.ensure()
    if make_request is None:
        from build_tools.image.build import gather_source_info, source_date

        source_info = gather_source_info(config, host)
        make_request = plan_request_maker(source_info, source_date(host, config.project_root))
    cases = bench_cases(config, make_request)
    platforms = tuple(dict.fromkeys(case.platform for case in cases))
    started = clock()
    prepare(config, platforms, host, out)  # a host step, timed apart from the builds
    seconds = round(clock() - started, 2)
    wheelhouse_row = Row("wheelhouse preparation", ", ".join(platforms), seconds, "s")
    source = cases[0].request.context
    with tempfile.TemporaryDirectory(prefix="agent-runner-bench-") as temporary:
        context = copy_context(source, Path(temporary) / "context")
        timings = time_cases(
            in_context(cases, context), host, clock=clock, log=out, marker=uuid.uuid4().hex
        )
    details = {
        "base_image": config.effective_base_image,
        "builder": config.builder or "default",
        "images": [case.request.tags[0] for case in cases],
        "changed_file": str(code_file(source).relative_to(source)),
    }
    report = bench_report(timings, (wheelhouse_row,), details)
    report_dir = args.report_dir or default_report_dir(config.project_root)
    json_path, md_path = write_report(report, report_dir, "bench", env=host.process.environment())
    out.write(to_markdown(report))
    out.write(f"bench: wrote {json_path} and {md_path}\n")
    return 0
