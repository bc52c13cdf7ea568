"""Dropping root to the workspace owner, decided with fake OS calls (no root needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from agent_runner import contract
from agent_runner.privileges import (
    RUNTIME_HOME,
    OsCalls,
    PrivilegeDropError,
    drop_to_workspace_owner,
)


@dataclass
class FakeOs:
    uid: int = 0
    owner: tuple[int, int] | None = (1000, 1000)
    deny: str = ""
    calls: list[tuple[object, ...]] = field(default_factory=list)

    def stat(self, path: Path) -> os.stat_result:
        if self.owner is None:
            raise FileNotFoundError(path)
        return os.stat_result((0o40755, 0, 0, 1, *self.owner, 0, 0, 0, 0))

    def _record(self, name: str, *args: object) -> None:
        if name == self.deny:
            raise PermissionError(1, "Operation not permitted")
        self.calls.append((name, *args))

    def calls_(self) -> OsCalls:
        return OsCalls(
            getuid=lambda: self.uid,
            stat=self.stat,
            makedirs=lambda p: self._record("makedirs", p),
            chown=lambda p, u, g: self._record("chown", p, u, g),
            setgroups=lambda groups: self._record("setgroups", tuple(groups)),
            setgid=lambda gid: self._record("setgid", gid),
            setuid=lambda uid: self._record("setuid", uid),
        )


WS = Path("/workspace")
READY = Path("/tmp/agent-runner")


def test_root_becomes_the_owner_of_a_host_workspace() -> None:
    fake = FakeOs(owner=(1234, 1234))
    env: dict[str, str] = {}
    target = drop_to_workspace_owner(WS, READY, env, fake.calls_())
    assert target is not None
    assert (target.uid, target.gid, target.adopt_workspace) == (1234, 1234, False)
    assert ("chown", WS, 1234, 1234) not in fake.calls  # a host workspace is never chowned
    assert ("chown", READY, 1234, 1234) in fake.calls
    # Groups, then gid, then uid: once uid is dropped nothing else can be changed.
    names = [c[0] for c in fake.calls]
    assert names[-3:] == ["setgroups", "setgid", "setuid"]
    assert fake.calls[-1] == ("setuid", 1234)
    assert env["HOME"] == str(RUNTIME_HOME)


@pytest.mark.parametrize("owner", [(0, 0), None])
def test_a_root_owned_or_missing_workspace_gets_the_image_user(
    owner: tuple[int, int] | None,
) -> None:
    fake = FakeOs(owner=owner)
    target = drop_to_workspace_owner(WS, READY, {}, fake.calls_())
    assert target is not None
    assert (target.uid, target.gid) == (contract.RUNTIME_UID, contract.RUNTIME_GID)
    assert ("chown", WS, contract.RUNTIME_UID, contract.RUNTIME_GID) in fake.calls
    assert fake.calls[-1] == ("setuid", contract.RUNTIME_UID)


def test_not_root_changes_nothing() -> None:
    fake = FakeOs(uid=1000)
    env: dict[str, str] = {}
    assert drop_to_workspace_owner(WS, READY, env, fake.calls_()) is None
    assert fake.calls == []
    assert env == {}


def test_a_directory_that_cannot_be_made_is_left_to_the_writability_check() -> None:
    fake = FakeOs(owner=None, deny="makedirs")
    target = drop_to_workspace_owner(WS, READY, {}, fake.calls_())
    assert target is not None
    assert fake.calls[-1] == ("setuid", contract.RUNTIME_UID)


def test_root_without_capabilities_says_how_to_run_it() -> None:
    fake = FakeOs(owner=(1000, 1000), deny="setgroups")
    with pytest.raises(PrivilegeDropError) as info:
        drop_to_workspace_owner(WS, READY, {}, fake.calls_())
    message = str(info.value)
    assert "\n" not in message
    assert "--user 1000:1000" in message
    assert ("setuid", 1000) not in fake.calls


def test_only_the_image_entrypoint_asks_for_the_drop(tmp_path: Path) -> None:
    """From source (`python -m agent_runner`) nobody changes user, whoever runs it."""
    from agent_runner import __main__ as entry

    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = {"SANDBOX_ROOT_DIR": str(blocker / "ws")}
    # The unwritable sandbox stops the run just after the place of the drop: nothing starts.
    assert entry.run(env, 0.0) == contract.EXIT_SANDBOX_NOT_WRITABLE.code
    assert "HOME" not in env  # the drop would have set it
    assert contract.ENTRYPOINT[-1] == contract.AS_WORKSPACE_OWNER_FLAG
