"""Publish in the release workflow's two halves around the scan and the signature:
`--stage-only` (push and check, no tag) and `--from-digest DIGEST` (tag it, no build)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from build_tools.cli import run
from build_tools.config import load_config
from build_tools.docker import BuildxRequest
from build_tools.errors import ReleaseError
from build_tools.options import PublishArguments
from build_tools.project import runner_version
from build_tools.release.publish import (
    REVISION_LABEL,
    VERSION_LABEL,
    run_publish,
    stage,
    tag_digest,
)
from tests.unit.fakes import FakeHost
from tests.unit.runtime.conftest import PROJECT_ROOT
from tests.unit.test_publish import (
    AMD,
    ARM,
    D1,
    D2,
    PLAN,
    PLATFORMS,
    REPO,
    REVISION,
    SHA,
    _image,
    _no_build,
    _published_host,
    manifest,
)


def _tags_written(host: FakeHost) -> list[tuple[str, tuple[str, ...]]]:
    return [call[1] for call in host.calls if call[0] == "imagetools_create"]


def _buildable_host() -> FakeHost:
    """Nothing published yet; a build pushes D1, whose platforms verify."""
    host = _published_host()
    host.build_digest = D1
    host.local_images = {
        f"{REPO}@{AMD}": _image("amd64", "1.2.0"),
        f"{REPO}@{ARM}": _image("arm64", "1.2.0"),
    }
    host.pullable = {f"{REPO}@{AMD}", f"{REPO}@{ARM}"}
    return host


def test_stage_only_builds_checks_and_gates_but_writes_no_tag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _buildable_host()
    gated: list[str] = []
    build = BuildxRequest(tmp_path, tmp_path / "Dockerfile", PLATFORMS, ())
    staged = stage(host, PLAN, lambda: build, start=None, gates=(gated.append,))
    assert staged == (D1, {"linux/amd64": AMD, "linux/arm64": ARM})
    assert [request.tags for request in host.builds] == [(f"{REPO}:{SHA}",)]
    assert gated == [f"{REPO}@{D1}"]
    assert _tags_written(host) == []
    assert "stage only" in capsys.readouterr().out


def test_stage_only_of_a_published_release_adopts_it_without_a_build() -> None:
    host = _published_host(**{"1.2.0": D1, "v1.2.0": D1})
    assert stage(host, PLAN, _no_build, start=None) == (
        D1,
        {"linux/amd64": AMD, "linux/arm64": ARM},
    )
    assert (host.builds, _tags_written(host)) == ([], [])


def test_stage_only_dry_run_shows_the_stop_before_the_tags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = _published_host()
    assert stage(host, PLAN, _no_build, start=None, dry_run=True) is None
    out = capsys.readouterr().out
    assert f"push {REPO}:{SHA}" in out
    assert "stage only: stop before the tags" in out
    assert (host.builds, _tags_written(host)) == ([], [])


def test_from_digest_tags_exactly_that_digest_in_plan_order_without_a_build() -> None:
    host = _published_host(sha=D1)
    host.digests[f"{REPO}:{SHA}"] = D1
    written = tag_digest(host, PLAN, D1)
    assert written == ["1.2.0", "v1.2.0", "1.2", "1", "latest"]  # sha-<short> is already on it
    assert _tags_written(host) == [(f"{REPO}:{tag}", (f"{REPO}@{D1}",)) for tag in written]
    assert host.builds == []


def test_from_digest_dry_run_prints_each_tag_and_writes_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = _published_host()
    assert tag_digest(host, PLAN, D1, dry_run=True) == []
    out = capsys.readouterr().out
    assert f"tag {REPO}@{D1} as 1.2.0" in out
    assert f"write {REPO}:v1.2.0 (new)" in out
    assert _tags_written(host) == []


def test_from_digest_refuses_a_digest_that_is_not_this_commits_build() -> None:
    host = _published_host()
    host.image_config_answers[f"{REPO}@{D1}"]["linux/arm64"] = {"config": {"Labels": {}}}
    with pytest.raises(ReleaseError, match="nothing was tagged"):
        tag_digest(host, PLAN, D1)
    assert _tags_written(host) == []


def test_from_digest_refuses_when_a_version_tag_is_on_another_build() -> None:
    host = _published_host(**{"v1.2.0": D2})
    with pytest.raises(ReleaseError):
        tag_digest(host, PLAN, D1)
    assert _tags_written(host) == []


def _release_host(version: str, outputs: Path) -> FakeHost:
    repo = "ghcr.io/stigmer/agent-runner"
    config = {"config": {"Labels": {VERSION_LABEL: version, REVISION_LABEL: REVISION}}}
    return FakeHost(
        git_answers={"rev-parse HEAD": REVISION, "tag --points-at HEAD --list v*": f"v{version}"},
        registry_tag_lists={repo: []},
        raw_manifests={
            f"{repo}@{D1}": {"manifests": [manifest(AMD, "amd64"), manifest(ARM, "arm64")]}
        },
        image_config_answers={f"{repo}@{D1}": dict.fromkeys(PLATFORMS, config)},
        environ={"GITHUB_OUTPUT": str(outputs)},
    )


def test_run_publish_from_digest_writes_the_digest_output_for_the_attestations(
    tmp_path: Path,
) -> None:
    version = runner_version(PROJECT_ROOT)
    host = _release_host(version, tmp_path / "outputs")
    config = load_config(PROJECT_ROOT, {"AGENT_RUNNER_BUILD_PLATFORMS": ",".join(PLATFORMS)})
    assert run_publish(PublishArguments(from_digest=D1), config, host) == 0
    assert (tmp_path / "outputs").read_text(encoding="utf-8") == f"digest={D1}\nlatest=true\n"
    assert host.builds == []
    assert _tags_written(host)[0] == (
        f"ghcr.io/stigmer/agent-runner:{version}",
        (f"ghcr.io/stigmer/agent-runner@{D1}",),
    )


def test_from_digest_must_be_a_digest(tmp_path: Path) -> None:
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = run(["publish", "--from-digest", "latest"], {}, lambda _e: FakeHost())
    assert code == 2
    assert "--from-digest latest" in stderr.getvalue()
