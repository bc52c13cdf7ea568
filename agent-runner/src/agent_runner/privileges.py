"""Run as the workspace's owner: started as root (no `--user`), drop to that uid in-process.

The Stigmer CLI starts the container without `--user` and bind-mounts a workspace that the
host user owns (often uid 1000, mode 0755). A fixed image uid could not write there, and
running the agent as root would leave root-owned files on the host. So, like the official
postgres and redis images' entrypoints, the process starts as root, takes the uid/gid of
the workspace directory, and drops to it before anything else is loaded; the agent's code
(and its shell tool) never runs as root. A root-owned workspace (a host directory made by
root) gets the image's own user, RUNTIME_UID, and its top directory is handed to that user.
Started with `--user`, nothing happens here. Stdlib only; the OS calls are passed in, so
tests run the decision without being root.
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from agent_runner import contract

# HOME for the dropped user: the workspace owner usually has no passwd entry in the image.
RUNTIME_HOME = Path("/tmp/agent-runner-home")  # noqa: S108 - fixed, documented container path


class PrivilegeDropError(Exception):
    """The process is root but cannot become the workspace owner."""


@dataclass(frozen=True)
class Target:
    uid: int
    gid: int
    # True when the workspace was root-owned and is handed to RUNTIME_UID.
    adopt_workspace: bool


@dataclass(frozen=True)
class OsCalls:
    """The system calls used, so the decision is testable without root."""

    getuid: Callable[[], int] = os.getuid
    stat: Callable[[Path], os.stat_result] = os.stat
    makedirs: Callable[[Path], None] = lambda p: p.mkdir(parents=True, exist_ok=True)
    chown: Callable[[Path, int, int], None] = os.chown
    setgroups: Callable[[list[int]], None] = os.setgroups
    setgid: Callable[[int], None] = os.setgid
    setuid: Callable[[int], None] = os.setuid


def choose_target(workspace: Path, calls: OsCalls) -> Target:
    try:
        st = calls.stat(workspace)
    except FileNotFoundError:
        return Target(contract.RUNTIME_UID, contract.RUNTIME_GID, adopt_workspace=True)
    if st.st_uid == 0:
        return Target(contract.RUNTIME_UID, contract.RUNTIME_GID, adopt_workspace=True)
    return Target(st.st_uid, st.st_gid, adopt_workspace=False)


def drop_to_workspace_owner(
    workspace: Path,
    ready_dir: Path,
    env: MutableMapping[str, str],
    calls: OsCalls | None = None,
) -> Target | None:
    """Become the workspace's owner if running as root; None when not root (nothing done)."""
    calls = calls or OsCalls()
    if calls.getuid() != 0:
        return None
    target = choose_target(workspace, calls)
    # Made (or handed over) by root here, so a restart under another owner still finds them
    # writable. A failure is left to the writability check that follows, which names the
    # variable and exits with its own code.
    owned = ([workspace] if target.adopt_workspace else []) + [ready_dir, RUNTIME_HOME]
    for directory in owned:
        try:
            calls.makedirs(directory)
            calls.chown(directory, target.uid, target.gid)
        except OSError:
            continue
    try:
        calls.setgroups([])
        calls.setgid(target.gid)
        calls.setuid(target.uid)
    except PermissionError as exc:
        raise PrivilegeDropError(
            f"agent-runner: the container user is invalid because it is root without the "
            f"capabilities to become uid {target.uid} (the owner of {workspace}): "
            f"{exc.strerror}. Run the container with --user {target.uid}:{target.gid}, or "
            "without --cap-drop of CHOWN, SETUID and SETGID."
        ) from exc
    env["HOME"] = str(RUNTIME_HOME)
    return target
