"""Small report JSON in the writers' shape (build_tools.report.to_json), for the report tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def row(
    metric: str, scope: str, value: float | None, unit: str, budget: float | None = None
) -> dict[str, Any]:
    status = (
        "info" if budget is None else ("pass" if value is not None and value <= budget else "fail")
    )
    return {
        "metric": metric,
        "scope": scope,
        "value": value,
        "unit": unit,
        "budget": budget,
        "status": status,
    }


def document(
    title: str, rows: list[dict[str, Any]], details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"title": title, "passed": True, "rows": rows, "notes": [], "details": details or {}}


def layer(digest: str, unpacked: int, step: str) -> dict[str, Any]:
    return {
        "digest": f"sha256:{digest * 64}"[:71],
        "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
        "compressed_bytes": unpacked // 3,
        "unpacked_bytes": unpacked,
        "created_by": step,
    }


def size_json(platforms: dict[str, list[dict[str, Any]]], budget: float = 500.0) -> dict[str, Any]:
    entries = [
        {
            "platform": platform,
            "manifest_digest": "sha256:" + "0" * 64,
            "config_bytes": 1000,
            "layers": layers,
            "unpacked_bytes": sum(item["unpacked_bytes"] for item in layers),
            "compressed_bytes": 1000 + sum(item["compressed_bytes"] for item in layers),
        }
        for platform, layers in platforms.items()
    ]
    return document(
        "Image size", [], {"ref": "r/agent-runner:dev", "budget_mb": budget, "platforms": entries}
    )


def run(poller: float, memory: float | None = 60.0) -> dict[str, Any]:
    return {
        "started": 0.2,
        "first_log": 0.3,
        "connected": None,
        "poller_visible": poller,
        "ready_line": round(poller - 0.1, 4),
        "idle_memory_mb": memory,
        "stop_seconds": 0.3,
        "stop_exit_code": 0,
    }


def startup_json(pollers: list[float], floors: list[float]) -> dict[str, Any]:
    rows = [
        row(
            "cold start (median)",
            "linux/amd64",
            sorted(pollers)[len(pollers) // 2] if pollers else None,
            "s",
            5.0,
        ),
        row("idle memory (median)", "linux/amd64", 60.0, "MB", 300.0),
    ]
    details = {"runs": [run(p) for p in pollers], "floors": floors}
    return document(f"agent-runner cold start and idle memory ({len(pollers)} runs)", rows, details)


def fleet_json(per_second: dict[int, float]) -> dict[str, Any]:
    rows = []
    for n, value in per_second.items():
        rows += [
            row("executions per second", f"N={n}", value, "1/s"),
            row("p50 execution latency", f"N={n}", 1.0, "s"),
            row("p95 execution latency", f"N={n}", 2.0 + n, "s"),
        ]
        for k in range(1, n + 1):
            rows += [
                row("idle memory", f"N={n} replica {k}", 60.0 + k, "MB"),
                row("peak memory", f"N={n} replica {k}", 100.0 + k, "MB"),
            ]
    rows.append(row("throughput ratio N=3 / N=1", "all", 2.5, "x"))
    return document("Fleet", rows, {"runs": []})


def write(directory: Path, **reports: dict[str, Any]) -> Path:
    """`write(d, startup=..., image_size=...)` -> d/startup.json, d/image-size.json."""
    directory.mkdir(parents=True, exist_ok=True)
    for stem, content in reports.items():
        path = directory / f"{stem.replace('_', '-')}.json"
        path.write_text(json.dumps(content), encoding="utf-8")
    return directory
