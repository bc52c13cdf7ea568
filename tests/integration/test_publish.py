"""`publish` and `resolve` against the real engine and the loopback registry.

(Over 400 lines: one release sequence and its re-runs share the stand-in images they build.)

Stand-in images (FROM scratch, one small file whose content is the version) are built for
both platforms through the Host, so the tag logic runs against a real registry in seconds.
The release sequence 1.0.0, 1.1.0-rc.1, 1.1.0, 2.0.0 and a 1.1.1 backport must leave
exactly the expected tags on the expected digests (each version under `X.Y.Z` and
`vX.Y.Z`, the spelling the Stigmer CLI pulls); injected registry failures must leave no
alias moved; a dry run must write nothing. Re-runs: a publish interrupted after any of its
registry writes is finished by running it again, to exactly the tags (and digests) of a
clean run, and no tag ever points at a second build; re-running a finished publish from a
fresh clone is a no-op. The stand-ins are reproducible (fixed file mtime and
SOURCE_DATE_EPOCH), as the real image is. Everything lives under test-release/.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pytest
import semver

from build_tools.cli import run
from build_tools.docker import BuildxRequest, RealDocker
from build_tools.errors import RegistryError, ReleaseError
from build_tools.host import Host, real_host
from build_tools.process import RealProcess
from build_tools.release.publish import (
    StartCheck,
    plan_publish,
    publish,
    registry_versions,
    resolve,
)
from build_tools.release.versioning import parse_cli_version

PLATFORMS = ("linux/amd64", "linux/arm64")
REGISTRY = "127.0.0.1:5000"
STAND_IN_EPOCH = 1767225600  # 2026-01-01: the stand-ins' SOURCE_DATE_EPOCH and file mtime


class InjectingDocker(RealDocker):
    """The real docker part; optionally fails the Nth tag write (instead of it, or just after it),
    fails the verification, hides a pushed platform, or calls `after_write` with the
    registry written after each registry write (the build's push and every tag)."""

    def __init__(
        self,
        fail_write: int | None = None,
        hide_platform: str | None = None,
        *,
        fail_after_write: int | None = None,
        fail_verification: bool = False,
        after_write: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(RealProcess(os.environ))
        self.fail_write = fail_write
        self.fail_after_write = fail_after_write
        self.fail_verification = fail_verification
        self.hide_platform = hide_platform
        self.after_write = after_write
        self.writes: list[str] = []
        self.builds = 0

    def buildx_build(self, request: BuildxRequest, *, log: IO[str]) -> None:
        self.builds += 1
        super().buildx_build(request, log=log)
        if self.after_write is not None and request.push:
            self.after_write(f"push {', '.join(request.tags)}")

    def imagetools_create(
        self, target: str, sources: Sequence[str], *, annotations: Mapping[str, str] | None = None
    ) -> None:
        self.writes.append(target)
        if len(self.writes) == self.fail_write:
            raise RegistryError(f"Writing tag {target}", "injected failure", "Retry.")
        super().imagetools_create(target, sources, annotations=annotations)
        if self.after_write is not None:
            self.after_write(f"write {target}")
        if len(self.writes) == self.fail_after_write:
            raise RegistryError(f"After writing tag {target}", "injected failure", "Retry.")

    def image_inspect(self, ref: str) -> dict[str, Any] | None:
        if self.fail_verification:  # publish inspects only while verifying a pulled platform
            raise ReleaseError(f"Verifying {ref}", "injected failure", "Retry.")
        return super().image_inspect(ref)

    def imagetools_inspect_raw(self, ref: str) -> dict[str, Any] | None:
        raw = super().imagetools_inspect_raw(ref)
        if raw is not None and self.hide_platform is not None:
            arch = self.hide_platform.split("/")[1]
            raw["manifests"] = [
                m for m in raw["manifests"] if m["platform"]["architecture"] != arch
            ]
        return raw


class InjectingHost:
    """The real host with an `InjectingDocker` (a plain one when none is given)."""

    def __init__(self, docker: InjectingDocker | None = None) -> None:
        real = real_host(os.environ)
        self.process, self.registry, self.git = real.process, real.registry, real.git
        self.docker = docker or InjectingDocker()

    @property
    def writes(self) -> list[str]:
        return self.docker.writes

    @property
    def builds(self) -> int:
        return self.docker.builds


@pytest.fixture(scope="module")
def host() -> Host:
    real = real_host(os.environ)
    real.docker.ensure()
    return real


def delete_all_tags(host: Host, repository: str) -> None:
    """Delete every manifest a tag points at (the loopback registry allows deletes)."""
    registry, _, name = repository.partition("/")
    tags = host.registry.tags(repository)
    for digest in {host.docker.manifest_digest(f"{repository}:{tag}") for tag in tags} - {None}:
        url = f"http://{registry}/v2/{name}/manifests/{digest}"
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30):
            pass


@pytest.fixture
def repository(host: Host) -> Iterator[str]:
    """A fresh repository, emptied afterwards."""
    repository = f"{REGISTRY}/test-release/seq-{uuid.uuid4().hex[:8]}"
    yield repository
    delete_all_tags(host, repository)


def revision_of(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()  # a stand-in commit id


def stand_in(tmp_path: Path, content: str) -> BuildxRequest:
    context = tmp_path / f"ctx-{hashlib.sha256(content.encode()).hexdigest()[:12]}"
    context.mkdir(exist_ok=True)
    (context / "content.txt").write_text(content)
    os.utime(context / "content.txt", (STAND_IN_EPOCH, STAND_IN_EPOCH))  # as the Dockerfile does
    (context / "Dockerfile").write_text("FROM scratch\nCOPY content.txt /content.txt\n")
    epoch = {"SOURCE_DATE_EPOCH": str(STAND_IN_EPOCH)}
    return BuildxRequest(context, context / "Dockerfile", PLATFORMS, (), build_args=epoch)


def do_publish(
    host: Host,
    repository: str,
    tmp_path: Path,
    version: str,
    *,
    content: str | None = None,
    revision: str | None = None,
    dry_run: bool = False,
) -> str | None:
    parsed = semver.Version.parse(version)
    plan = plan_publish(
        repository,
        parsed,
        revision or revision_of(version),
        PLATFORMS,
        registry_versions(host, repository),
    )
    request = stand_in(tmp_path, content or version)
    return publish(host, plan, lambda: request, start=None, dry_run=dry_run)


def tag_table(host: Host, repository: str) -> dict[str, str]:
    table = {}
    for tag in host.registry.tags(repository):
        digest = host.docker.manifest_digest(f"{repository}:{tag}")
        assert digest is not None
        table[tag] = digest
    return table


def test_release_sequence_leaves_exactly_the_expected_tags(
    host: Host, repository: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digests = {}
    for version in ("1.0.0", "1.1.0-rc.1", "1.1.0", "2.0.0", "1.1.1"):
        digest = do_publish(host, repository, tmp_path, version)
        assert digest is not None
        digests[version] = digest
    assert len(set(digests.values())) == 5
    expected = {
        **digests,
        **{f"v{v}": digest for v, digest in digests.items()},
        **{f"sha-{revision_of(v)[:12]}": digest for v, digest in digests.items()},
        "1.0": digests["1.0.0"],
        "1.1": digests["1.1.1"],
        "1": digests["1.1.1"],
        "2.0": digests["2.0.0"],
        "2": digests["2.0.0"],
        "latest": digests["2.0.0"],  # the 1.1.1 backport never moves latest
    }
    table = tag_table(host, repository)
    with capsys.disabled():
        print("\nrelease-sequence tag table:")
        version_of = {d: v for v, d in digests.items()}
        for tag in sorted(table):
            print(f"  {tag:<20} {table[tag][:19]}  (= {version_of[table[tag]]})")
    assert table == expected
    # Each platform is a separate manifest in the index: no unknown/unknown attestations.
    index = host.docker.imagetools_inspect_raw(f"{repository}@{digests['2.0.0']}") or {}
    platforms = sorted(
        f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index["manifests"]
    )
    assert platforms == sorted(PLATFORMS)

    # Re-publishing the same build is a no-op: nothing is written.
    recorder = InjectingHost()
    assert do_publish(recorder, repository, tmp_path, "2.0.0") == digests["2.0.0"]
    assert recorder.writes == []
    # A different build for a released version is refused before anything is pushed.
    recorder = InjectingHost()
    with pytest.raises(ReleaseError, match=f"from commit {revision_of('2.0.0')}.*immutable"):
        do_publish(recorder, repository, tmp_path, "2.0.0", content="other", revision="f" * 40)
    assert (recorder.builds, recorder.writes) == (0, [])
    assert tag_table(host, repository) == expected

    # The CLI side of the contract.
    assert (
        resolve(host, repository, parse_cli_version("1.1.1"))
        == f"{repository}:1.1.1@{digests['1.1.1']}"
    )
    assert resolve(host, repository, parse_cli_version("v1.1.0-rc.1")).endswith(
        digests["1.1.0-rc.1"]
    )
    assert resolve(host, repository, parse_cli_version("v1.1.1")) == resolve(
        host, repository, parse_cli_version("1.1.1")
    )
    with pytest.raises(ReleaseError, match=r"1\.2\.0 was never published"):
        resolve(host, repository, parse_cli_version("1.2.0"))


def test_resolve_command_prints_the_pinned_reference(
    host: Host, repository: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = do_publish(host, repository, tmp_path, "1.0.0")
    capsys.readouterr()
    environ = {
        **os.environ,
        "AGENT_RUNNER_BUILD_REGISTRY": REGISTRY,
        "AGENT_RUNNER_BUILD_IMAGE": repository.removeprefix(f"{REGISTRY}/"),
    }
    assert run(["resolve", "1.0.0"], environ) == 0
    assert capsys.readouterr().out == f"{repository}:1.0.0@{digest}\n"
    assert run(["resolve", "v1.0.0"], environ) == 0  # the Stigmer CLI's own spelling
    assert capsys.readouterr().out == f"{repository}:1.0.0@{digest}\n"
    assert run(["resolve", "1.0.1"], environ) == 10
    assert "1.0.1 was never published" in capsys.readouterr().err
    assert run(["resolve", "latest"], environ) == 10
    assert "is not a release version" in capsys.readouterr().err


def test_dry_run_prints_every_ref_and_writes_nothing(
    host: Host, repository: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    do_publish(host, repository, tmp_path, "1.0.0")
    before = tag_table(host, repository)
    capsys.readouterr()
    assert do_publish(host, repository, tmp_path, "1.1.0", dry_run=True) is None
    assert tag_table(host, repository) == before
    out = capsys.readouterr().out
    assert f"push {repository}:sha-{revision_of('1.1.0')[:12]} (all platforms" in out
    for tag in ("1.1.0", "v1.1.0", "1.1", "1", "latest"):
        assert f"write {repository}:{tag}" in out
    assert f"(now {before['latest']})" in out


def test_a_missing_platform_tags_nothing(repository: str, tmp_path: Path, host: Host) -> None:
    do_publish(host, repository, tmp_path, "1.0.0")
    before = tag_table(host, repository)
    hiding = InjectingHost(InjectingDocker(hide_platform="linux/arm64"))
    with pytest.raises(RegistryError, match=r"not \['linux/amd64', 'linux/arm64'\]"):
        do_publish(hiding, repository, tmp_path, "1.1.0")
    after = tag_table(host, repository)
    # Only the build's own staging tag exists; no version tag, no alias moved.
    staging = f"sha-{revision_of('1.1.0')[:12]}"
    assert set(after) == {*before, staging}
    assert {t: after[t] for t in before} == before


@pytest.mark.parametrize(
    ("fail_write", "failed_tag"),
    [
        (2, "v1.1.0"),  # `1.1.0` is written, then its v-spelling fails
        (3, "1.1"),  # both version tags are written, then the first alias fails
    ],
)
def test_a_registry_failure_midway_then_a_rerun_completes(
    repository: str, tmp_path: Path, host: Host, fail_write: int, failed_tag: str
) -> None:
    first = do_publish(host, repository, tmp_path, "1.0.0")
    failing = InjectingHost(InjectingDocker(fail_write=fail_write))
    with pytest.raises(RegistryError, match=rf"Writing tag .*:{re.escape(failed_tag)} failed be"):
        do_publish(failing, repository, tmp_path, "1.1.0")
    table = tag_table(host, repository)
    assert table["latest"] == table["1"] == table["1.0"] == first
    assert failed_tag not in table
    assert "1.1" not in table
    second = do_publish(host, repository, tmp_path, "1.1.0")
    table = tag_table(host, repository)
    assert table["1.1.0"] == table["v1.1.0"] == table["1.1"] == table["1"] == second
    assert table["latest"] == second


@pytest.mark.parametrize(
    "interruption",
    # Writes of the 1.1.0 publish, in order: the push (sha-<short>), then 1.1.0, v1.1.0 and
    # the aliases 1.1, 1, latest.
    ["verification", "after 1.1.0", "after the first alias", "after the last alias"],
)
def test_an_interrupted_publish_is_finished_by_a_rerun(
    host: Host,
    repository: str,
    tmp_path: Path,
    interruption: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The clean run: 1.0.0 then 1.1.0 in a repository of their own.
    clean_repository = f"{repository}-clean"
    try:
        for version in ("1.0.0", "1.1.0"):
            do_publish(host, clean_repository, tmp_path, version)
        clean = tag_table(host, clean_repository)
    finally:
        delete_all_tags(host, clean_repository)
    first = do_publish(host, repository, tmp_path, "1.0.0")
    assert first == clean["1.0.0"]  # reproducible stand-ins: equal digests across repositories
    history: dict[str, list[str]] = {
        tag: [digest] for tag, digest in tag_table(host, repository).items()
    }
    steps: list[str] = []

    def record(step: str) -> None:
        steps.append(step)
        for tag, digest in tag_table(host, repository).items():
            if history.setdefault(tag, [digest])[-1] != digest:
                history[tag].append(digest)

    failing = InjectingHost(InjectingDocker(
        fail_after_write=None if interruption == "verification" else
        {"after 1.1.0": 1, "after the first alias": 3, "after the last alias": 5}[interruption],
        fail_verification=interruption == "verification",
        after_write=record,
    ))  # fmt: skip
    with pytest.raises((RegistryError, ReleaseError), match="injected failure"):
        do_publish(failing, repository, tmp_path, "1.1.0")
    interrupted = tag_table(host, repository)
    rerun = InjectingHost(InjectingDocker(after_write=record))
    second = do_publish(rerun, repository, tmp_path, "1.1.0")
    final = tag_table(host, repository)
    with capsys.disabled():
        print(f"\ninterrupted at {interruption}; steps: {'; '.join(steps)}")
        version_of = {clean["1.0.0"]: "1.0.0", clean["1.1.0"]: "1.1.0"}
        for tag in sorted(final):
            was = interrupted.get(tag)
            print(
                f"  {tag:<20} after the failure: {version_of.get(was, was) if was else '-':<6} "
                f"after the re-run: {version_of[final[tag]]}  {final[tag][:19]}"
            )
    assert final == clean
    assert second == clean["1.1.0"]
    # A release whose version tags were out is adopted: no rebuild, no second build.
    assert rerun.builds == (1 if interruption == "verification" else 0)
    # No tag ever pointed at a second build: each moved at most once, from 1.0.0 to 1.1.0.
    for tag, digests in history.items():
        assert digests in ([first], [second], [first, second]), (tag, digests)
    assert {tag for tag, digests in history.items() if len(digests) > 1} == {"1", "latest"}


def test_a_rerun_of_a_finished_publish_from_a_fresh_clone_is_a_no_op(
    tmp_path: Path, repository: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_release import _environ, add_entry, git, release

    environ = _environ(tmp_path)
    environ["AGENT_RUNNER_BUILD_IMAGE"] = repository.removeprefix(f"{REGISTRY}/")
    root = tmp_path / "project"
    (root / "agent-runner").mkdir(parents=True)
    (root / "agent-runner/pyproject.toml").write_text(
        '[project]\nname = "agent-runner"\nversion = "1.0.0"\ndependencies = []\n'
    )
    (root / "agent-runner/requirements.lock").write_text("# nothing\n")
    git(root, environ, "init", "--quiet", "--initial-branch=main")
    add_entry(root, environ, "2026-01-01-000000", "First")
    assert release(root, environ, "1.1.0") == 0
    revision = git(root, environ, "rev-parse", "HEAD").strip()
    # The first publish, with a stand-in labelled like the real image (version, revision).
    plan = plan_publish(repository, semver.Version.parse("1.1.0"), revision, PLATFORMS, [])
    request = stand_in(tmp_path, "1.1.0")
    digest = publish(real_host(os.environ), plan, lambda: request, start=None)
    before = tag_table(real_host(os.environ), repository)
    assert set(before) == {"1.1.0", "v1.1.0", f"sha-{revision[:12]}", "1.1", "1", "latest"}
    clone = tmp_path / "fresh-clone"
    git(tmp_path, environ, "clone", "--quiet", str(root), str(clone))
    capsys.readouterr()
    started = time.monotonic()
    assert run(["publish"], environ, project_root=clone) == 0
    seconds = time.monotonic() - started
    out = capsys.readouterr().out
    with capsys.disabled():
        print(f"\nre-run publish from a fresh clone: {seconds:.2f} s wall\n{out}")
    assert f"adopt {repository}@{digest}" in out
    assert "wrote nothing new" in out
    assert tag_table(real_host(os.environ), repository) == before


def test_verify_starts_each_platform(host: Host, repository: str, tmp_path: Path) -> None:
    """A stand-in with a shell-free static start: the offline Python base, if it is seeded."""
    base = "127.0.0.1:5000/agent-runner-base/python:3.13-trixie"
    if host.docker.manifest_digest(base) is None:
        pytest.skip(f"{base} is not seeded (nox -s base_image)")
    context = tmp_path / "ctx-python"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY Dockerfile /stand-in\n")
    request = BuildxRequest(context, context / "Dockerfile", PLATFORMS, ())
    plan = plan_publish(repository, semver.Version.parse("1.0.0"), revision_of("py"), PLATFORMS, [])
    check = StartCheck(
        args=("python3.13", "-c", "import pathlib; pathlib.Path('/stand-in').stat()")
    )
    digest = publish(host, plan, lambda: request, start=check)
    assert host.docker.manifest_digest(f"{repository}:latest") == digest
    bad = StartCheck(args=("python3.13", "-c", "raise SystemExit(3)"))
    version = semver.Version.parse("1.0.1")
    plan = plan_publish(repository, version, revision_of("py-1.0.1"), PLATFORMS, [])
    with pytest.raises(Exception, match="exited with 3"):
        publish(host, plan, lambda: request, start=bad)
    assert host.docker.manifest_digest(f"{repository}:1.0.1") is None


def test_publish_command_runs_from_a_release_tag_only(
    tmp_path: Path, repository: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_release import _environ, add_entry, git, release

    environ = _environ(tmp_path)
    environ["AGENT_RUNNER_BUILD_IMAGE"] = repository.removeprefix(f"{REGISTRY}/")
    root = tmp_path / "project"
    (root / "agent-runner").mkdir(parents=True)
    (root / "agent-runner/pyproject.toml").write_text(
        '[project]\nname = "agent-runner"\nversion = "0.1.0"\ndependencies = []\n'
    )
    (root / "agent-runner/requirements.lock").write_text("# nothing\n")
    git(root, environ, "init", "--quiet", "--initial-branch=main")
    add_entry(root, environ, "2026-01-01-000000", "First")
    assert run(["publish", "--dry-run"], environ, project_root=root) == 10
    assert "carries 0 release tags (none), not one" in capsys.readouterr().err
    assert release(root, environ, "1.0.0") == 0
    capsys.readouterr()
    assert run(["publish", "--dry-run"], environ, project_root=root) == 0
    out = capsys.readouterr().out
    revision = git(root, environ, "rev-parse", "HEAD").strip()
    assert f"push {repository}:sha-{revision[:12]} (all platforms" in out
    for tag in ("1.0.0", "v1.0.0", "1.0", "1", "latest"):
        assert f"write {repository}:{tag} (new)" in out
    assert real_host(os.environ).registry.tags(repository) == ()
    # Drift: a tag whose commit declares another version is refused.
    pyproject = root / "agent-runner/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"1.0.0"', '"1.0.1"'))
    git(root, environ, "commit", "--quiet", "-am", "drift")
    git(root, environ, "tag", "v1.0.2")
    assert run(["publish", "--dry-run"], environ, project_root=root) == 10
    assert "agent-runner/pyproject.toml says version 1.0.1" in capsys.readouterr().err


@pytest.mark.slow
def test_the_real_image_publishes_verified_on_both_platforms(
    host: Host, repository: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agent-runner image itself: build plan, size gate, pull-back and start per platform."""
    from build_tools.config import load_config
    from build_tools.image.size import enforce_size_budget, measure_pushed
    from build_tools.release.publish import IMAGE_START, image_request

    root = Path(__file__).resolve().parents[2]
    config = load_config(root, os.environ)
    if config.offline and host.docker.manifest_digest(config.offline_base_image) is None:
        pytest.skip(f"{config.offline_base_image} is not seeded (nox -s base_image)")
    version = semver.Version.parse("0.0.1-rc.1")
    revision = host.git.run(["rev-parse", "HEAD"], cwd=root).strip()
    plan = plan_publish(repository, version, revision, config.platforms, [])

    def size_gate(ref: str) -> None:
        enforce_size_budget(measure_pushed(ref, host.registry), config.budgets.image_size_mb)

    digest = publish(
        host, plan, lambda: image_request(config, host, version), start=IMAGE_START,
        gates=(size_gate,),
    )  # fmt: skip
    assert digest is not None
    assert tag_table(host, repository) == {
        "0.0.1-rc.1": digest,
        "v0.0.1-rc.1": digest,
        f"sha-{revision[:12]}": digest,
    }
    assert (
        resolve(host, repository, parse_cli_version("0.0.1-rc.1"))
        == f"{repository}:0.0.1-rc.1@{digest}"
    )
