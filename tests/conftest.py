"""Suite-wide wiring: tests under tests/integration carry the `integration` marker, and a
session that ran integration or smoke tests leaves no Docker objects behind.

The cleanup (`_leave_no_docker_objects`) notes what the engine and the loopback registry
hold when the session starts and, at its end (pass or fail), removes what appeared since
and is the suite's: images in a `test-` repository (`test-build/...`,
`127.0.0.1:5000/test-release/...`, `agent-runner-base/test-python`), containers, networks
and volumes named `*-test-*`/`test-*` or made by testcontainers, untagged images and
anonymous volumes nothing uses, and the tags it pushed to `test-` repositories of the
registry (deleted through its API; `.ci/provision-docker-host` frees their storage and
drops the emptied repositories when it next starts the registry). Kept across sessions:
everything else, e.g. `stigmer/agent-runner:dev`, the Temporal test image and the offline
base. Test sessions on one host share the engine, so the last one to end cleans up for all
that overlapped it (a sessions file under the temporary directory says who is running);
a session that crashed is cleaned up after by the next one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_INTEGRATION = Path(__file__).parent / "integration"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A repository path component starting with `test-`, or `-test-` inside a name.
SUITE_NAME = re.compile(r"(^|/)test-|-test-")
_ANONYMOUS_VOLUME = re.compile(r"^[0-9a-f]{64}$")
SESSIONS_FILE = Path(tempfile.gettempdir()) / "agent-runner-test-sessions.json"
_MANIFESTS = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _INTEGRATION in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


# -- what is there, and what of it is the suite's ---------------------------------------------


@dataclass(frozen=True)
class Thing:
    """One Docker object: `key` removes it; `ours` when the suite made or may remove it."""

    kind: str  # container, network, volume, image, tag (registry: repo:tag@digest)
    key: str
    ours: bool


def leftovers(baseline: frozenset[tuple[str, str]], now: list[Thing]) -> list[Thing]:
    """What to remove: the suite's objects that were not there at the start, in the order
    they can go (containers before their networks, volumes and images)."""
    order = ("container", "network", "volume", "image", "tag")
    new = [t for t in now if t.ours and (t.kind, t.key) not in baseline]
    return sorted(new, key=lambda thing: (order.index(thing.kind), thing.key))


def _repository(ref: str) -> str:
    name = ref.split("@", 1)[0]
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name


def _labelled_ours(labels: dict[str, str] | None) -> bool:
    from build_tools.testbed.containers import SMOKE_LABEL

    labels = labels or {}
    project = labels.get("com.docker.compose.project", "")
    return (
        "org.testcontainers" in labels or SMOKE_LABEL in labels or bool(SUITE_NAME.search(project))
    )


def _docker() -> Any:
    from python_on_whales import DockerClient

    return DockerClient()


def engine_things(docker: Any) -> list[Thing]:
    things: list[Thing] = []
    for container in docker.container.list(all=True):
        image = str(container.config.image or "")
        ours = bool(SUITE_NAME.search(container.name) or SUITE_NAME.search(_repository(image)))
        things.append(
            Thing("container", container.id, ours or _labelled_ours(container.config.labels))
        )
    for network in docker.network.list():
        ours = bool(SUITE_NAME.search(network.name)) or _labelled_ours(network.labels)
        things.append(Thing("network", network.id, ours))
    unused = {volume.name for volume in docker.volume.list(filters=[("dangling", "true")])}
    for volume in docker.volume.list():
        anonymous = bool(_ANONYMOUS_VOLUME.match(volume.name)) and volume.name in unused
        ours = bool(SUITE_NAME.search(volume.name)) or _labelled_ours(volume.labels)
        things.append(Thing("volume", volume.name, ours or anonymous))
    for image in docker.image.list():
        things += [
            Thing("image", r, bool(SUITE_NAME.search(_repository(r)))) for r in image.repo_tags
        ]
        if not image.repo_tags:  # untagged: by-digest pulls, or a tag that moved on
            things.append(Thing("image", image.id, True))
    return things


def _registry_list(registry: str, path: str, field: str) -> list[str]:
    """A paginated registry listing (`_catalog`, `tags/list`), every page."""
    url: str | None = f"http://{registry}{path}?n=1000"
    found: list[str] = []
    while url:
        with urllib.request.urlopen(url, timeout=30) as response:
            found += json.loads(response.read()).get(field) or []
            link = response.headers.get("Link", "")
        url = f"http://{registry}{link.split(';')[0].strip('<> ')}" if link else None
    return found


def _manifest_digest(base: str, repository: str, tag: str) -> str | None:
    url = f"{base}/{repository}/manifests/{tag}"
    request = urllib.request.Request(url, method="HEAD", headers={"Accept": ", ".join(_MANIFESTS)})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            digest = response.headers.get("Docker-Content-Digest")
            return str(digest) if digest else None
    except urllib.error.HTTPError:
        return None  # deleted meanwhile


def registry_things(registry: str) -> list[Thing]:
    """Every tag of the registry's `test-` repositories (none when it does not answer)."""
    try:
        repositories = _registry_list(registry, "/v2/_catalog", "repositories")
    except (urllib.error.URLError, OSError, ValueError):
        return []
    things = []
    for repository in filter(SUITE_NAME.search, repositories):
        with contextlib.suppress(urllib.error.HTTPError):  # no tags (any more)
            for tag in _registry_list(registry, f"/v2/{repository}/tags/list", "tags"):
                digest = _manifest_digest(f"http://{registry}/v2", repository, tag)
                if digest:
                    things.append(Thing("tag", f"{repository}:{tag}@{digest}", True))
    return things


def remove(docker: Any, registry: str, things: list[Thing], kept: list[Thing]) -> list[str]:
    """Remove `things`; returns what could not be removed, and why."""
    from python_on_whales import DockerException

    failed = []
    kept_digests = {
        t.key.split(":", 1)[0] + "@" + t.key.rsplit("@", 1)[1] for t in kept if t.kind == "tag"
    }
    deleted: set[str] = set()
    for thing in things:
        try:
            if thing.kind == "container":
                docker.container.remove(thing.key, force=True, volumes=True)
            elif thing.kind == "network":
                docker.network.remove(thing.key)
            elif thing.kind == "volume":
                docker.volume.remove(thing.key)
            elif thing.kind == "image":
                docker.image.remove(thing.key)
            else:  # a registry tag: delete its manifest unless a kept tag names it too
                repository = thing.key.partition(":")[0]
                digest = thing.key.rsplit("@", 1)[1]
                target = f"{repository}@{digest}"
                if target in kept_digests or target in deleted:
                    continue
                url = f"http://{registry}/v2/{repository}/manifests/{digest}"
                with urllib.request.urlopen(
                    urllib.request.Request(url, method="DELETE"), timeout=30
                ):
                    deleted.add(target)
        except DockerException as error:
            said = str(error.stderr or "").strip()
            # Gone already is fine; an image something else still runs is not ours to force.
            if not re.search(r"no such|not found|conflict|being used", said, re.IGNORECASE):
                failed.append(f"{thing.kind} {thing.key}: {said[-200:]}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                failed.append(f"{thing.kind} {thing.key}: HTTP {error.code}")
        except (urllib.error.URLError, OSError) as error:
            failed.append(f"{thing.kind} {thing.key}: {error}")
    return failed


# -- who else is running: the last session to end cleans up for all that overlapped it -------


def _started(pid: int) -> str | None:
    """The process's start time (tells a live process from a reused pid); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None
    except OSError:  # no /proc (macOS): alive or not is all we can tell
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"


def _ancestors() -> set[int]:
    pids, pid = set(), os.getppid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


Baseline = list[list[str]]  # [kind, key] pairs, as JSON keeps them


@contextlib.contextmanager
def _sessions(path: Path) -> Iterator[tuple[dict[str, Any], list[Baseline]]]:
    """The running sessions (from the shared file, locked) and the starts of those that
    died without cleaning up: whoever reads them takes those starts over."""
    import fcntl

    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            sessions: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            sessions = {}
        dead = [key for key, s in sessions.items() if _started(s["pid"]) != s["started"]]
        orphaned = [sessions.pop(key)["baseline"] for key in dead]
        yield sessions, orphaned
        path.write_text(json.dumps(sessions))


def _intersect(first: Baseline, *others: Baseline) -> Baseline:
    common = {tuple(item) for item in first}
    for other in others:
        common &= {tuple(item) for item in other}
    return sorted(list(item) for item in common)


Look = Callable[[], list[Thing]]
Remove = Callable[[list[Thing], list[Thing]], list[str]]  # (to remove, kept) -> failures


class CleanupSession:
    """One pytest session's share of the engine and registry: `look` lists what is there,
    `remove` removes; `pid` is the session's process (the one that must be alive)."""

    def __init__(self, look: Look, remove: Remove, sessions_file: Path, pid: int) -> None:
        self.look, self.remove, self.sessions_file, self.pid = look, remove, sessions_file, pid
        self.started = _started(pid)
        self.key = f"{pid}:{self.started}"

    def start(self) -> None:
        now = [[t.kind, t.key] for t in self.look()]
        with _sessions(self.sessions_file) as (sessions, orphaned):
            for other in sessions.values():
                other["baseline"] = _intersect(other["baseline"], *orphaned)
            baseline = _intersect(now, *orphaned)
            sessions[self.key] = {"pid": self.pid, "started": self.started, "baseline": baseline}

    def finish(self) -> tuple[list[Thing], list[str], list[int]]:
        """(removed, failures, the sessions it was left to) at the end of this session."""
        with _sessions(self.sessions_file) as (sessions, orphaned):
            mine = sessions.pop(self.key, None)
            if mine is None:  # the sessions file was lost: no start to compare with
                return [], [], []
            baseline = _intersect(mine["baseline"], *orphaned)
            # A session that started this one (a test running pytest) waits for it.
            ancestors = _ancestors()
            others = [s for s in sessions.values() if s["pid"] not in ancestors]
            if others:  # they may still use what appeared since; the last one removes it
                for other in others:
                    other["baseline"] = _intersect(other["baseline"], baseline)
                return [], [], [other["pid"] for other in others]
            now = self.look()
            gone = leftovers(frozenset((kind, key) for kind, key in baseline), now)
            return gone, self.remove(gone, [t for t in now if t not in gone]), []


def real_session(registry: str) -> CleanupSession:
    """This process's session against the real engine and registry."""
    from python_on_whales import DockerException

    docker = _docker()

    def look() -> list[Thing]:
        for _ in range(2):  # an object may go between `ls` and `inspect`: look again
            with contextlib.suppress(DockerException):
                return engine_things(docker) + registry_things(registry)
        return engine_things(docker) + registry_things(registry)

    return CleanupSession(
        look, lambda gone, kept: remove(docker, registry, gone, kept), SESSIONS_FILE, os.getpid()
    )


_CLEANUP_SUMMARY = pytest.StashKey[str]()


@pytest.fixture(scope="session", autouse=True)
def _leave_no_docker_objects(request: pytest.FixtureRequest) -> Iterator[None]:
    """Sessions with integration (or smoke) tests end with the engine as they found it."""
    if not any(item.get_closest_marker("integration") for item in request.session.items):
        yield
        return
    from python_on_whales import DockerException

    from build_tools.config import load_config

    session = real_session(load_config(PROJECT_ROOT, os.environ).local_registry)
    try:
        session.start()
    except (DockerException, OSError):  # no engine: the tests that need one say so
        yield
        return
    yield
    removed, failed, deferred = session.finish()
    request.config.stash[_CLEANUP_SUMMARY] = (
        f"docker cleanup: left to test session(s) {deferred} still running"
        if deferred
        else f"docker cleanup: removed {len(removed)} object(s) this session made"
    )
    assert not failed, f"the test session could not remove what it made: {failed}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    # Here, not in the fixture: output during a test's teardown is captured.
    summary = config.stash.get(_CLEANUP_SUMMARY, None)
    if summary:
        terminalreporter.write_line(summary)
