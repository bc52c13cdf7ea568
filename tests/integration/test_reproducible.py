"""Reproducible images: one commit built from two fresh clones gives the same digests.

The tree under test (the working tree, uncommitted edits included) is committed once into a
scratch repository; two `git clone`s of it are made seconds apart (so every file has a
different checkout mtime), each gets its own copy of the wheelhouse (fresh file times too),
and each runs the real `build --push --no-cache` for both platforms to the loopback
registry under `test-repro-h5/agent-runner`. The index and every platform's manifest must
be equal; on a mismatch the failure names the differing layers. The registry tags go with
the suite's cleanup (tests/conftest.py); nothing is loaded into the engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from build_tools.cli import run
from build_tools.host import Host, real_host
from tests.integration.conftest import PROJECT_ROOT, TEST_REGISTRY

PLATFORMS = ("linux/amd64", "linux/arm64")
REPOSITORY = f"{TEST_REGISTRY}/test-repro-h5/agent-runner"


def git(cwd: Path, *args: str) -> str:
    environ = {
        **os.environ,
        "GIT_AUTHOR_NAME": "repro",
        "GIT_AUTHOR_EMAIL": "repro@example.invalid",
        "GIT_COMMITTER_NAME": "repro",
        "GIT_COMMITTER_EMAIL": "repro@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=environ, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def commit_of_the_tree_under_test(target: Path) -> Path:
    """A repository whose HEAD is the working tree as it is now (tracked files only)."""
    git(PROJECT_ROOT.parent, "clone", "--quiet", "--no-hardlinks", str(PROJECT_ROOT), str(target))
    tracked = git(PROJECT_ROOT, "ls-files", "-z").split("\0")
    for name in filter(None, tracked):
        source, copy = PROJECT_ROOT / name, target / name
        if source.is_file() and not source.is_symlink():
            shutil.copyfile(source, copy)
        elif not source.exists():
            copy.unlink(missing_ok=True)  # deleted in the working tree
    git(target, "add", "--all")
    if git(target, "status", "--porcelain").strip():
        git(target, "commit", "--quiet", "-m", "tree under test")
    return target


def fresh_clone(source: Path, target: Path) -> Path:
    git(source.parent, "clone", "--quiet", "--no-hardlinks", str(source), str(target))
    wheelhouse = PROJECT_ROOT / "build" / "wheelhouse"
    if wheelhouse.is_dir():  # saves the downloads; shutil.copy gives the files new mtimes
        shutil.copytree(wheelhouse, target / "build" / "wheelhouse", copy_function=shutil.copy)
    return target


def index_and_manifests(host: Host, ref: str) -> dict[str, str]:
    """ "index" -> the index digest, each platform -> its manifest digest."""
    digest = host.docker.manifest_digest(ref)
    assert digest is not None, f"{ref} was not pushed"
    raw = host.docker.imagetools_inspect_raw(f"{REPOSITORY}@{digest}") or {}
    found = {"index": digest}
    for manifest in raw["manifests"]:
        platform = manifest["platform"]
        found[f"{platform['os']}/{platform['architecture']}"] = manifest["digest"]
    return found


def differing_layers(host: Host, first: str, second: str) -> list[str]:
    """The config and layers that differ between two platform manifests (for the message)."""

    def parts(digest: str) -> list[Any]:
        manifest = host.docker.imagetools_inspect_raw(f"{REPOSITORY}@{digest}") or {}
        return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]

    names = ["config"] + [f"layer {n}" for n in range(1, 100)]
    return [
        f"{name}: {a[:19]} != {b[:19]}"
        for name, a, b in zip(names, parts(first), parts(second), strict=False)
        if a != b
    ]


def build(clone: Path, tag: str, environ: Mapping[str, str], reports: Path) -> float:
    started = time.monotonic()
    argv = [
        "build", "--push", "--no-cache", "--registry", TEST_REGISTRY,
        "--platform", ",".join(PLATFORMS), "--tag", tag, "--report-dir", str(reports),
    ]  # fmt: skip
    code = run(argv, environ, project_root=clone)
    assert code == 0, f"`build` in {clone} exited with {code}; its output is above"
    return time.monotonic() - started


@pytest.mark.slow
def test_two_fresh_clones_build_the_same_digests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = real_host(os.environ)
    host.docker.ensure()
    # SOURCE_DATE_EPOCH unset: the default, the commit time of HEAD, is what is tested.
    environ = {key: value for key, value in os.environ.items() if key != "SOURCE_DATE_EPOCH"} | {
        "AGENT_RUNNER_BUILD_IMAGE": REPOSITORY.removeprefix(f"{TEST_REGISTRY}/")
    }
    source = commit_of_the_tree_under_test(tmp_path / "source")
    run_id = uuid.uuid4().hex[:8]
    results, seconds = [], []
    for n in (1, 2):
        clone = fresh_clone(source, tmp_path / f"clone-{n}")
        tag = f"repro-{run_id}-{n}"
        seconds.append(build(clone, tag, environ, tmp_path / f"reports-{n}"))
        results.append(index_and_manifests(host, f"{REPOSITORY}:{tag}"))
        time.sleep(1.1)  # the second clone's files get other mtimes for certain
    first, second = results
    with capsys.disabled():
        print(f"\nreproducible build of {git(source, 'rev-parse', 'HEAD').strip()[:12]}:")
        for key in first:
            print(f"  {key:<12} {first[key]}  {second.get(key)}")
        print(f"  build times: {seconds[0]:.0f} s, {seconds[1]:.0f} s")
    assert sorted(first) == sorted(["index", *PLATFORMS])
    mismatched = {
        platform: differing_layers(host, first[platform], second[platform])
        for platform in PLATFORMS
        if first[platform] != second[platform]
    }
    assert not mismatched, f"the two clones' builds differ: {mismatched}"
    assert first == second
