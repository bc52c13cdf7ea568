"""Entry point: ``python -m agent_runner`` / ``agent-runner``."""

from __future__ import annotations

import gc
import time

# Taken before the other imports so startup_seconds includes them.
_STARTED = time.monotonic()
# Until the worker's modules are imported: imports create objects in bulk and none of them
# is garbage yet, so collecting meanwhile only cost time (~24 ms of ~250, measured).
gc.disable()

import asyncio  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import MutableMapping  # noqa: E402

from agent_runner import __version__, contract, logs  # noqa: E402
from agent_runner.config import ConfigError, check_sandbox, load_config  # noqa: E402
from agent_runner.privileges import PrivilegeDropError, drop_to_workspace_owner  # noqa: E402

log = logging.getLogger("agent_runner")


def run(env: MutableMapping[str, str], started: float, *, as_workspace_owner: bool = False) -> int:
    try:
        resolved = load_config(env)
        config = resolved.config
        # Before anything else runs: in the image, the agent must never run as root.
        dropped = None
        if as_workspace_owner:
            dropped = drop_to_workspace_owner(config.sandbox_root, config.ready_file.parent, env)
        check_sandbox(config)
    except ConfigError as exc:
        _say(exc.line)
        return exc.exit_code.code
    except PrivilegeDropError as exc:
        _say(str(exc))
        return contract.EXIT_CONFIG_INVALID.code
    logs.setup(config.log_level)
    if dropped is not None:
        log.info(
            "running as the workspace owner",
            extra={"uid": dropped.uid, "gid": dropped.gid, "adopted": dropped.adopt_workspace},
        )
    for warning in resolved.warnings:
        log.warning(warning)
    log.info(
        "agent-runner starting",
        extra={"version": __version__, "pid": os.getpid(), "config": config.masked()},
    )
    # Imported here so a config error is reported without loading temporalio.
    from agent_runner.lean_imports import hidden

    with hidden():
        from agent_runner.worker import NamespaceNotFoundError, Runner
    gc.enable()

    try:
        return asyncio.run(Runner(config, started).serve())
    except NamespaceNotFoundError as exc:
        log.error("namespace not found", extra={"error": str(exc)})  # noqa: TRY400 - no traceback needed
        _say(
            f"agent-runner: TEMPORAL_NAMESPACE={config.namespace!r} is invalid because the "
            "Temporal server has no such namespace. Set TEMPORAL_NAMESPACE to an existing "
            "namespace."
        )
        return contract.EXIT_CONFIG_INVALID.code
    except Exception:
        log.exception("unexpected crash")
        return contract.EXIT_CRASH.code


def _say(line: str) -> None:
    """One line to stderr in one write: print() writes the text and its newline
    separately, and the SDK's log thread can land a record between the two."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main() -> None:
    arguments = sys.argv[1:]
    if arguments not in ([], [contract.AS_WORKSPACE_OWNER_FLAG]):
        _say(
            f"agent-runner: the arguments {arguments} are invalid because it takes none but "
            f"{contract.AS_WORKSPACE_OWNER_FLAG}. Configure it through its environment."
        )
        sys.exit(contract.EXIT_CONFIG_INVALID.code)
    code = run(os.environ, _STARTED, as_workspace_owner=bool(arguments))
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit skips interpreter finalization, where the temporalio runtime has been
    # seen to abort ("PyGILState_Release"), turning a clean stop into a failure.
    os._exit(code)


if __name__ == "__main__":
    main()
