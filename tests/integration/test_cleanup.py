"""The test suite leaves the engine and the loopback registry as it found them.

Each test runs pytest in a subprocess (a session of its own, cleaned up by tests/conftest.py
when it ends) and compares what exists before and after: images, containers, volumes and
networks in the engine, and tags in the registry's `test-` repositories. They are counted
here with python-on-whales and the registry API directly, not with the cleanup's own code.
Other test sessions running on this host at the same time make the comparison meaningless:
the inner session then leaves the cleanup to them, and the test says so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from python_on_whales import DockerClient

from tests.conftest import CleanupSession, Thing

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "127.0.0.1:5000"
REMOVED = re.compile(r"docker cleanup: removed (\d+) object")
SUITE_NAME = re.compile(r"(^|/)test-|-test-")  # how tests name what they make
ANONYMOUS_VOLUME = re.compile(r"^[0-9a-f]{64}$")

# A test that makes one of everything under test names, never removes any of it, and fails.
LEAKY_TEST = """
import os
import sys

import pytest
from python_on_whales import DockerClient

from tests.conftest import CleanupSession, Thing

from build_tools.image.build import engine_platform
from build_tools.docker import BuildxRequest
from build_tools.host import real_host

pytestmark = pytest.mark.integration
TOKEN = "{token}"


def test_makes_one_of_each_then_fails(tmp_path):
    host = real_host(os.environ)
    (tmp_path / "Dockerfile").write_text("FROM scratch\\nCOPY Dockerfile /marker\\n")
    local = f"test-cleanup/{{TOKEN}}:1"
    pushed = f"{registry}/test-cleanup/{{TOKEN}}:1"
    for tag, push in ((local, False), (pushed, True)):
        request = BuildxRequest(tmp_path, tmp_path / "Dockerfile", (engine_platform(host),),
                                (tag,), push=push, load=not push)
        host.docker.buildx_build(request, log=sys.stderr)
    docker = DockerClient()
    network = docker.network.create(f"test-cleanup-{{TOKEN}}")
    volume = docker.volume.create(f"test-cleanup-{{TOKEN}}")
    docker.container.create(local, ["/marker"], name=f"test-cleanup-{{TOKEN}}",
                            networks=[network], volumes=[(volume, "/named"), ("/anonymous",)])
    assert False, "fails on purpose, leaving everything behind"
"""


def engine_and_registry() -> dict[str, set[str]]:
    docker = DockerClient()
    images = docker.image.list()
    found: dict[str, set[str]] = {
        "image ids": {image.id for image in images},
        "image tags": {tag for image in images for tag in image.repo_tags},
        "containers": {container.id for container in docker.container.list(all=True)},
        "volumes": {volume.name for volume in docker.volume.list()},
        "networks": {network.id for network in docker.network.list()},
        "registry tags": set(),
    }
    for repository in _get("/v2/_catalog?n=1000").get("repositories") or []:
        if repository.startswith("test-") or "/test-" in repository:
            tags = _get(f"/v2/{repository}/tags/list").get("tags") or []
            found["registry tags"] |= {f"{repository}:{tag}" for tag in tags}
    return found


def _get(path: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}{path}", timeout=30) as response:
            parsed: dict[str, Any] = json.loads(response.read())
            return parsed
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return {}
        raise


def run_session(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """pytest in a subprocess; returns it and how many objects its cleanup removed."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=PROJECT_ROOT, env=os.environ, capture_output=True, text=True, timeout=900,
        check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    if "docker cleanup: left to test session" in output:
        pytest.fail(
            "another test session ran on this host at the same time, so the inner session "
            f"left its cleanup to it; run this test alone:\n{output[-2000:]}"
        )
    removed = REMOVED.search(output)
    assert removed, f"the inner session did not report its cleanup:\n{output[-3000:]}"
    return result, int(removed.group(1))


def touched_by_others(since: datetime, until: datetime) -> set[str]:
    """What Docker events show another program (not a test) touching meanwhile: its
    containers, images, networks and volumes are left out of the comparison. Tests name
    their objects `test-...` or `...-test-...`; what an event does not name counts as the
    tests' (it stays in the comparison)."""
    keys: set[str] = set()
    for event in DockerClient().system.events(since=since, until=until):
        actor_id = str(event.actor.id if event.actor else "")
        attributes = (event.actor.attributes if event.actor else None) or {}
        names = {str(attributes.get(key) or "") for key in ("name", "image")}
        names = {name for name in names if name and not name.startswith("sha256:")}
        if not names or ANONYMOUS_VOLUME.match(actor_id):  # nothing says whose: ours
            continue
        if not SUITE_NAME.search(" ".join([*names, actor_id])):
            keys |= {actor_id, *names} - {""}
    return keys


def assert_unchanged(
    before: dict[str, set[str]], after: dict[str, set[str]], others: set[str]
) -> None:
    changes = {
        kind: {
            "new": sorted(now - before[kind] - others),
            "gone": sorted(before[kind] - now - others),
        }
        for kind, now in after.items()
    }
    changes = {kind: change for kind, change in changes.items() if change["new"] or change["gone"]}
    assert not changes, f"the session changed the engine or registry: {changes}"
    counts = {kind: len(items - others) for kind, items in after.items()}
    print(f"counts before = after: {counts}; left out, touched by other programs: {sorted(others)}")


def compare_around(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the session; assert the engine and registry are as before it."""
    before, since = engine_and_registry(), datetime.now(UTC)
    result, removed = run_session(*args)
    after, until = engine_and_registry(), datetime.now(UTC)
    print(f"the inner session's cleanup removed {removed} object(s)")
    assert_unchanged(before, after, touched_by_others(since, until))
    return result, removed


def test_a_failing_session_leaves_nothing_it_made(tmp_path: Path) -> None:
    token = f"h{uuid.uuid4().hex[:10]}"
    leaky = tmp_path / "test_leaky.py"
    leaky.write_text(LEAKY_TEST.format(token=token, registry=REGISTRY), encoding="utf-8")

    # The suite's root conftest as a plugin: the file is outside tests/.
    result, removed = compare_around(
        "-p", "tests.conftest", "-c", str(PROJECT_ROOT / "pyproject.toml"), str(leaky)
    )

    assert result.returncode == 1, result.stdout[-3000:]
    assert "fails on purpose" in result.stdout, result.stdout[-3000:]
    # image, its pushed copy, the registry tag, container, network, named volume
    assert removed >= 6, result.stdout[-3000:]


def test_a_representative_subset_leaves_the_counts_unchanged() -> None:
    """Tests that build, load and push images (and leave them, left to themselves)."""
    result, removed = compare_around("tests/integration/test_size.py")

    assert result.returncode == 0, result.stdout[-3000:]
    assert removed > 0  # they did make images: the equality means something


# -- sessions that overlap or crash (the engine replaced by a list) ---------------------------


class World:
    """Stands in for the engine: what is there now, and what the cleanup removed."""

    def __init__(self, *things: Thing) -> None:
        self.things = list(things)
        self.removed: list[Thing] = []

    def look(self) -> list[Thing]:
        return list(self.things)

    def remove(self, gone: list[Thing], kept: list[Thing]) -> list[str]:
        assert not set(gone) & set(kept)
        self.removed += gone
        self.things = [thing for thing in self.things if thing not in gone]
        return []

    def session(self, sessions_file: Path, pid: int) -> CleanupSession:
        return CleanupSession(self.look, self.remove, sessions_file, pid)


KEPT = Thing("image", "stigmer/agent-runner:dev", ours=False)


def made(name: str) -> Thing:
    return Thing("image", f"test-build/agent-runner:{name}", ours=True)


def test_the_last_of_two_overlapping_sessions_removes_what_both_made(tmp_path: Path) -> None:
    world = World(KEPT, made("before"))
    sessions = tmp_path / "sessions.json"
    # Another live process that did not start this one: a concurrent session.
    with subprocess.Popen(["sleep", "120"]) as other:
        try:
            first = world.session(sessions, os.getpid())
            first.start()
            world.things += [made("by-first"), Thing("container", "someone-elses", ours=False)]
            second = world.session(sessions, other.pid)
            second.start()
            world.things.append(made("by-second"))

            assert first.finish() == ([], [], [other.pid])  # the other may still use them
            assert world.removed == []
            removed, failed, _ = second.finish()
        finally:
            other.kill()
    assert sorted(thing.key for thing in removed) == [
        "test-build/agent-runner:by-first",
        "test-build/agent-runner:by-second",
    ]
    assert failed == []
    assert world.things == [KEPT, made("before"), Thing("container", "someone-elses", False)]


def test_a_crashed_session_is_cleaned_up_after_by_the_next_one(tmp_path: Path) -> None:
    world = World(KEPT)
    sessions = tmp_path / "sessions.json"
    with subprocess.Popen(["sleep", "120"]) as crashing:
        world.session(sessions, crashing.pid).start()
        world.things.append(made("by-the-crashed-one"))
        crashing.kill()  # never reaches its finish
    next_one = world.session(sessions, os.getpid())
    next_one.start()

    removed, _, deferred = next_one.finish()

    assert (removed, deferred) == ([made("by-the-crashed-one")], [])
    assert world.things == [KEPT]
    assert json.loads(sessions.read_text()) == {}
