"""Docker HEALTHCHECK: exit 0 iff the readiness file names a live PID.

Stdlib only and no agent_runner imports beyond stdlib modules, so it starts fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agent_runner.contract import env_var
from agent_runner.readiness import pid_alive, read_ready_pid


def check(path: Path) -> tuple[bool, str]:
    pid = read_ready_pid(path)
    if pid is None:
        return False, f"not ready: {path} missing or unreadable"
    if not pid_alive(pid):
        return False, f"not ready: pid {pid} from {path} is not running"
    return True, f"ready: pid {pid}"


def main() -> int:
    # Same declared variable as the runner; not via config to stay fast and lenient.
    var = env_var("AGENT_RUNNER_READY_FILE")
    path = Path(os.environ.get(var.name) or str(var.default))
    ok, message = check(path)
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
