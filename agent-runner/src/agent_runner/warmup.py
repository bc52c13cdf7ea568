"""Warm start: once the worker polls, load what the first execution needs, off the loop.

The first ExecuteGraphton used to pay for importing the agent framework (graphton,
deepagents, langchain and every provider SDK they import at module level: ~3 s in the
image, anthropic's SDK alone ~1 s) and for the gRPC backend client. A daemon thread does
that work right after readiness instead, so readiness and the first poll are not delayed,
and `docker stop` is not either (the process exits without joining it). An execution that
arrives mid-way waits on the import lock only for what is left. Leaner imports were
measured and lose: graphton and deepagents import langchain_anthropic, langchain_openai
and mcp at module level whatever the configured provider, so only patching them would
avoid those imports; and a lazier agent module would still leave the first execution to
pay for them.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from agent_runner.config import Config
from agent_runner.execution import DEFAULT_INSTRUCTIONS, build_graph, model_settings

log = logging.getLogger("agent_runner.warmup")

# Besides the agent: the backend client (grpc) and the skills writer (zipfile).
EXECUTION_MODULES: tuple[str, ...] = ("agent_runner.backend", "agent_runner.skills")


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


def collect_and_freeze() -> None:
    """The framework stays loaded: collect the throwaway agent, then let later collections
    skip what is left (each execution's garbage is then all they scan)."""
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class Warmup:
    """What warming up does, with the loaders passed in (tests give doubles)."""

    config: Config
    load_agent: Callable[[], ModuleType]
    load_others: Callable[[tuple[str, ...]], None] = _import_all
    freeze_heap: Callable[[], None] = collect_and_freeze
    monotonic: Callable[[], float] = time.monotonic

    def run(self) -> None:
        """Import what an execution imports and build one agent as an execution does
        (no model request is made); log what it took. Never raises: a failure here is
        met again, and reported, by the execution that needs the same step."""
        started = self.monotonic()
        log.info("warm-up started")
        try:
            agent = self.load_agent()
            self.load_others(EXECUTION_MODULES)
            settings = model_settings(agent, self.config, self.config.llm_model)
            # Building compiles the graph and the tools' schemas, and imports the provider's
            # chat model module; nothing is sent and nothing is written to the workspace.
            build_graph(
                agent, settings, DEFAULT_INSTRUCTIONS, self.config.sandbox_root.resolve(), {}
            )
            self.freeze_heap()
        except Exception as exc:
            log.warning(
                "warm-up failed; the first execution loads the agent itself",
                extra={"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]},
            )
            return
        log.info("warm-up finished", extra={"seconds": round(self.monotonic() - started, 3)})

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="agent-runner-warmup", daemon=True)
        thread.start()
        return thread
