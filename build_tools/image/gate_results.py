"""What the two image-gate tools said, parsed (pure), and the report rows made from it.

container-structure-test writes a JSON test report (`--output json --test-report FILE`);
dive writes its layer analysis (`--json FILE`) and, with `--ci`, prints a PASS/FAIL verdict.
Saved real outputs are the unit tests' fixtures (tests/unit/data/gates/).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from build_tools.config import Gates
from build_tools.report import Row

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_VERDICT = re.compile(r"Result:(PASS|FAIL)\b")
TOP_WASTED = 5  # wasted files named in the report's notes, per platform


@dataclass(frozen=True)
class StructureResult:
    passed: int
    failed: int
    failures: tuple[tuple[str, str], ...]  # (test name, its first error)


@dataclass(frozen=True)
class WastedFile:
    path: str
    count: int  # how many layers hold a copy
    wasted_bytes: int


@dataclass(frozen=True)
class DiveResult:
    size_bytes: int  # all layers, unpacked
    base_bytes: int  # the first layer (the base image's)
    wasted_bytes: int
    efficiency: float
    wasted: tuple[WastedFile, ...]  # largest first

    @property
    def user_wasted_ratio(self) -> float:
        """Wasted bytes over the bytes of the layers above the first, as dive computes it."""
        user = self.size_bytes - self.base_bytes
        return self.wasted_bytes / user if user > 0 else 0.0


def parse_structure(document: Mapping[str, Any]) -> StructureResult:
    """container-structure-test's JSON report: counts and the failed tests."""
    failures = tuple(
        (str(result.get("Name", "?")), str((result.get("Errors") or ["no error given"])[0]))
        for result in document.get("Results") or ()
        if not result.get("Pass")
    )
    return StructureResult(
        passed=int(document.get("Pass", 0)), failed=int(document.get("Fail", 0)), failures=failures
    )


def parse_dive(document: Mapping[str, Any]) -> DiveResult:
    """dive's `--json` export: the image summary and the first layer's size."""
    image = document["image"]
    layers: Sequence[Mapping[str, Any]] = document.get("layer") or ()
    wasted = sorted(
        (
            WastedFile(str(ref["file"]), int(ref["count"]), int(ref["sizeBytes"]))
            for ref in image.get("fileReference") or ()
        ),
        key=lambda f: (-f.wasted_bytes, f.path),
    )
    return DiveResult(
        size_bytes=int(image["sizeBytes"]),
        base_bytes=int(layers[0]["sizeBytes"]) if layers else 0,
        wasted_bytes=int(image["inefficientBytes"]),
        efficiency=float(image["efficiencyScore"]),
        wasted=tuple(wasted),
    )


def parse_dive_verdict(output: str) -> bool | None:
    """dive --ci's own verdict (True: PASS); None when it printed none (it did not analyse)."""
    found = _VERDICT.search(_ANSI.sub("", output))
    return None if found is None else found.group(1) == "PASS"


def platform_rows(
    platform: str,
    *,
    structure: StructureResult,
    dive: DiveResult,
    dive_passed: bool,
    thresholds: Gates,
    seconds: float,
) -> tuple[Row, ...]:
    """One platform's rows: the structure test, dive's three figures and its own verdict."""
    return (
        Row.gated("structure tests failed", platform, structure.failed, "tests", 0),
        Row("structure tests passed", platform, structure.passed, "tests"),
        Row.floored(
            "layer efficiency", platform, dive.efficiency, "ratio", thresholds.layer_efficiency
        ),
        Row.gated("wasted bytes", platform, dive.wasted_bytes / 1e6, "MB", thresholds.wasted_mb),
        Row.gated(
            "user wasted ratio",
            platform,
            dive.user_wasted_ratio,
            "ratio",
            thresholds.user_wasted_ratio,
        ),
        Row.gated("dive --ci rules failed", platform, 0 if dive_passed else 1, "verdict", 0),
        Row("gate runtime", platform, seconds, "s"),
    )


def platform_notes(platform: str, structure: StructureResult, dive: DiveResult) -> list[str]:
    notes = [
        f"{platform}: structure test {name!r} failed: {why}" for name, why in structure.failures
    ]
    notes += [
        f"{platform}: wasted {f.path} ({f.count} copies, {f.wasted_bytes / 1e6:.3f} MB)"
        for f in dive.wasted[:TOP_WASTED]
    ]
    return notes


def failure_summary(rows: Sequence[Row]) -> str:
    """The failed rows as one clause, e.g. "wasted bytes 67.1 > 20 MB on linux/amd64"."""
    parts = []
    for row in rows:
        if row.status != "fail":
            continue
        sign = "<" if row.limit == "min" else ">"
        parts.append(f"{row.metric} {row.value:g} {sign} {row.budget:g} {row.unit} on {row.scope}")
    return "; ".join(parts)
