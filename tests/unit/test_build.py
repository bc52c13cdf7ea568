"""`build` end to end through a FakeHost, plus the Dockerfile's agreement with the contract.

(Over 400 lines: the command's every exit path, each a short scripted case; split by exit
code they would repeat the same project fixture.)
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from build_tools.cli import run
from build_tools.errors import BuildError, ConfigError, GitError, RegistryError
from build_tools.image import wheelhouse
from build_tools.image.build import public_source_url, source_date
from build_tools.image.plan import LABEL_PREFIX, make_build_plan
from build_tools.process import CommandResult
from build_tools.runtime.contract_loader import load_contract, read_contract
from tests.unit.fakes import FakeGit, FakeHost

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
REVISION = "fedcba9876543210fedcba9876543210fedcba98"
COMMIT_TIME = 1796165445  # 2026-12-01T22:50:45Z
ENGINE = "docker version --format {{.Server.Os}}/{{.Server.Arch}}"


@dataclass
class Project:
    root: Path
    wheel_digest: str


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A checkout with a one-wheel lock whose wheelhouse (and pip) is already complete."""
    root = tmp_path / "checkout"
    runner = root / "agent-runner"
    (runner / "src" / "agent_runner").mkdir(parents=True)
    shutil.copy(
        PROJECT_ROOT / "agent-runner/src/agent_runner/contract.py",
        runner / "src/agent_runner/contract.py",
    )
    (runner / "pyproject.toml").write_text('[project]\nversion = "3.1.4"\n', encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[tool.agent-runner-build]\nimage = "test-build/agent-runner"\n', encoding="utf-8"
    )
    wheel = b"wheel a"
    digest = hashlib.sha256(wheel).hexdigest()
    (runner / "requirements.lock").write_text(f"a==1.0 --hash=sha256:{digest}\n", "utf-8")
    for arch in ("amd64", "arm64"):
        (root / f"build/wheelhouse/{arch}/wheels").mkdir(parents=True)
        (root / f"build/wheelhouse/{arch}/wheels/a-1.0-py3-none-any.whl").write_bytes(wheel)
    (root / "build/wheelhouse/pip").mkdir()
    (root / "build/wheelhouse/pip/pip-9-py3-none-any.whl").write_bytes(b"pip")
    pin = wheelhouse.LockedRequirement(
        "pip", "9", frozenset({hashlib.sha256(b"pip").hexdigest()}), None, 0
    )
    monkeypatch.setattr(wheelhouse, "PIP_PIN", pin)
    return Project(root, digest)


def _host(**overrides: object) -> FakeHost:
    host = FakeHost(
        commands={ENGINE: CommandResult((), 0, "linux/amd64\n", "")},
        git_answers={
            "rev-parse HEAD": REVISION + "\n",
            "log -1 --format=%ct HEAD": f"{COMMIT_TIME}\n",
            "config --get remote.origin.url": "git@git.example.test:stigmer/agent-runner.git\n",
        },
        saved_images={
            "test-build/agent-runner:dev": (DATA / "docker-save-probe-local.tar").read_bytes()
        },
    )
    for name, value in overrides.items():
        setattr(host, name, value)
    return host


def _run(project: Project, host: FakeHost, *argv: str) -> int:
    return run(["build", *argv], {}, host_factory=lambda _env: host, project_root=project.root)


def test_default_build_loads_the_host_platform_then_gates_its_size(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _host()
    assert _run(project, host) == 0
    assert host.calls[0] == ("ensure_docker", None)
    (request,) = host.builds
    assert request.platforms == ("linux/amd64",)
    assert request.tags == ("test-build/agent-runner:dev",)
    assert request.load
    assert not request.push
    assert request.build_args["REVISION"] == REVISION
    assert request.build_args["VERSION"] == "3.1.4"
    assert request.build_args["SOURCE"] == "https://git.example.test/stigmer/agent-runner"
    assert request.metadata_file == project.root / "build/reports/build-metadata.json"
    assert ("image_save_stream", "test-build/agent-runner:dev") in host.calls
    report = json.loads((project.root / "build/reports/image-size.json").read_text("utf-8"))
    assert report["passed"] is True
    out = capsys.readouterr().out
    assert "size linux/amd64:" in out
    assert "  linux/amd64: `docker images` shows about " in out  # and why the gate differs
    assert "image-size.md" in out


def test_push_measures_the_pushed_index(project: Project) -> None:
    host = _host()  # the registry holds nothing: its 404 proves where it looked
    code = _run(
        project,
        host,
        "--push",
        "--registry",
        "127.0.0.1:5000",
        "--platform",
        "linux/amd64,linux/arm64",
    )
    assert code == RegistryError.exit_code
    (request,) = host.builds
    assert request.push
    assert not request.load
    assert request.platforms == ("linux/amd64", "linux/arm64")
    manifest = "http://127.0.0.1:5000/v2/test-build/agent-runner/manifests/dev"
    assert ("registry_get", manifest) in host.calls


def test_a_size_over_budget_fails_after_writing_the_report(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text("utf-8")
        + "\n[tool.agent-runner-build.budgets]\nimage-size-mb = 0.001\n",
        "utf-8",
    )
    assert _run(project, _host()) == 7
    report = json.loads((project.root / "build/reports/image-size.json").read_text("utf-8"))
    assert report["passed"] is False
    assert "over the 0.001 MB budget" in capsys.readouterr().err


def test_dry_run_prints_the_plan_and_builds_nothing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _host()
    assert _run(project, host, "--dry-run", "--json", "--offline") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["platforms"] == ["linux/amd64"]
    assert plan["base_image"] == "127.0.0.1:5000/agent-runner-base/python:3.13-trixie"
    assert host.builds == []
    assert all(call[0] not in {"ensure_docker", "image_save_stream"} for call in host.calls)


def test_multi_platform_load_exits_2_before_any_work(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _host()
    assert _run(project, host, "--platform", "linux/amd64,linux/arm64") == 2
    assert "Add --push" in capsys.readouterr().err
    assert host.builds == []


def test_an_unsupported_engine_platform_is_a_config_error(project: Project) -> None:
    host = _host(commands={ENGINE: CommandResult((), 0, "linux/s390x\n", "")})
    assert _run(project, host) == ConfigError.exit_code
    assert host.builds == []


def test_outside_git_the_revision_is_unknown(project: Project) -> None:
    class NoGit(FakeGit):
        def run(self, args: Sequence[str], *, cwd: Path) -> str:
            raise GitError("`git rev-parse`", "not a git repository", "Run in a checkout.")

    no_git = _host()
    no_git.git = NoGit(no_git)
    assert _run(project, no_git) == 0
    assert no_git.builds[0].build_args["REVISION"] == "unknown"
    assert no_git.builds[0].build_args["SOURCE"] == ""


def test_the_source_date_is_the_commit_time_unless_source_date_epoch_is_set() -> None:
    committed = FakeHost(git_answers={"log -1 --format=%ct HEAD": "1796165445\n"})
    assert source_date(committed, Path("/src")).isoformat() == "2026-12-01T22:50:45+00:00"
    pinned = FakeHost(environ={"SOURCE_DATE_EPOCH": "1700000000"})
    assert source_date(pinned, Path("/src")).isoformat() == "2023-11-14T22:13:20+00:00"
    assert [call for call in pinned.calls if call[0] == "git"] == []  # the variable wins
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
        source_date(FakeHost(environ={"SOURCE_DATE_EPOCH": "yesterday"}), Path("/src"))


def test_outside_a_git_checkout_the_source_date_is_now() -> None:
    class NoGit(FakeGit):
        def run(self, args: Sequence[str], *, cwd: Path) -> str:
            raise GitError("`git log`", "not a git repository", "Run in a checkout.")

    host = FakeHost()
    host.git = NoGit(host)
    before = datetime.now(UTC)
    assert before <= source_date(host, Path("/src")) <= datetime.now(UTC)


def test_the_build_passes_the_commit_time_as_source_date_epoch(project: Project) -> None:
    host = _host()
    assert _run(project, host) == 0
    args = host.builds[0].build_args
    assert args["SOURCE_DATE_EPOCH"] == str(COMMIT_TIME)
    assert args["CREATED"] == "2026-12-01T22:50:45Z"  # the label says the same time


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("git@git.example.test:org/repo.git", "https://git.example.test/org/repo"),
        ("https://user:token@git.example.test/org/repo.git", "https://git.example.test/org/repo"),
        ("ssh://git@git.example.test/org/repo", "https://git.example.test/org/repo"),
        ("/srv/git/repo", ""),
    ],
)
def test_source_url_never_carries_credentials(remote: str, url: str) -> None:
    assert public_source_url(remote) == url


# -- the Dockerfile agrees with the contract and the plan -------------------------------------

DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")


def _arg_default(name: str) -> str:
    found = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert found, f"ARG {name} has no default"
    return found.group(1)


def test_dockerfile_sets_no_contract_variable_and_its_workdir_makes_the_default_the_mount() -> None:
    # An ENV for a canonical name would silently beat the alias the CLI passes
    # (WORKSPACE_ROOT vs SANDBOX_ROOT_DIR): the image leaves every contract variable unset.
    contract = read_contract(PROJECT_ROOT)
    env_lines = re.findall(r"^(?:ENV|\s{4})\s*([A-Z_]+)=", DOCKERFILE, re.MULTILINE)
    declared = {var.name for var in contract.env_vars}
    declared |= {alias for var in contract.env_vars for alias in var.aliases}
    assert env_lines
    assert not declared & set(env_lines)
    workdirs = re.findall(r"^WORKDIR (\S+)$", DOCKERFILE, re.MULTILINE)
    default = str(contract.env_var("SANDBOX_ROOT_DIR").default)
    assert posixpath.normpath(posixpath.join(workdirs[-1], default)) == contract.workspace_mount


def test_dockerfile_defaults_match_the_runtime_contract_and_pyproject() -> None:
    contract = read_contract(PROJECT_ROOT)
    assert int(_arg_default("RUNTIME_UID")) == contract.runtime_uid
    assert int(_arg_default("RUNTIME_GID")) == contract.runtime_gid
    assert _arg_default("WORKSPACE") == contract.workspace_mount
    healthcheck = re.search(r"CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert healthcheck
    assert tuple(json.loads(healthcheck.group(1))) == contract.healthcheck_command
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'base-image = "{_arg_default("BASE_IMAGE")}"' in pyproject


def test_dockerfile_needs_no_frontend_image_and_no_fixed_python_path() -> None:
    assert not re.search(r"^#\s*syntax=", DOCKERFILE, re.MULTILINE | re.IGNORECASE)
    instructions = "\n".join(
        line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")
    )
    assert "bin/python" not in instructions  # python3 from PATH works on both bases
    final_stage = DOCKERFILE.split("AS runtime", 1)[1]
    assert len(re.findall(r"^RUN ", final_stage, re.MULTILINE)) == 1  # QEMU on arm64


def test_every_plan_label_is_set_by_the_dockerfile(project: Project) -> None:
    from build_tools.config import load_config
    from build_tools.image.build import gather_source_info
    from build_tools.image.plan import BuildOptions

    config = load_config(project.root, {})
    source = gather_source_info(config, _host())
    plan = make_build_plan(
        config, BuildOptions("linux/amd64"), source, source_date(_host(), project.root)
    )
    for key, value in plan.labels.items():
        assert key.startswith(LABEL_PREFIX)
        assert f'{key}="' in DOCKERFILE, f"{key} is not a LABEL in the Dockerfile"
        arg = re.search(rf'{re.escape(key)}="\$\{{(\w+)\}}"', DOCKERFILE)
        if arg:  # set from a build arg: the plan must pass that arg with this value
            assert plan.build_args[arg.group(1)] == value
        else:
            assert f'{key}="{value}"' in DOCKERFILE


# -- a base image that cannot be pulled --------------------------------------------------------

PINNED_BASE = (
    "python:3.13-slim@sha256:7c61056e61ac89e852de05f3dc6fa51a6dd2181797bceed46aa725dd7cb2cd3b"
)
_HUB_DIGEST = "sha256:7c61056e61ac89e852de05f3dc6fa51a6dd2181797bceed46aa725dd7cb2cd3b"
# The last lines of `docker buildx build` on a host that resolves no public registry name,
# and with the offline base not seeded; recorded from buildx 0.13.1 (BuildKit in dockerd 26).
NO_SUCH_HOST = [
    "   3 |     ",
    "--------------------",
    f"ERROR: failed to solve: {PINNED_BASE}: failed to resolve source metadata for "
    f"docker.io/library/{PINNED_BASE}: failed to do request: Head "
    f'"https://registry-1.docker.io/v2/library/python/manifests/{_HUB_DIGEST}": dial tcp: '
    "lookup registry-1.docker.io on 10.255.255.53:53: no such host",
]
OFFLINE_BASE = "127.0.0.1:5000/agent-runner-base/python:3.13-trixie"
NOT_FOUND = [
    "   3 |     ",
    "--------------------",
    f"ERROR: failed to solve: {OFFLINE_BASE}: failed to resolve source metadata for "
    f"{OFFLINE_BASE}: {OFFLINE_BASE}: not found",
]
STEP_FAILED = [
    "--------------------",
    'ERROR: failed to solve: process "/bin/sh -c exit 3" did not complete successfully: '
    "exit code: 3",
]


def buildx_failure(stderr_tail: list[str]) -> BuildError:
    """The error RealDocker.buildx_build raises: exit code and the last lines of buildx's stderr."""
    return BuildError(
        "docker buildx build",
        f"it exited with 1: {' | '.join(stderr_tail)}",
        "Read the build log above, fix the Dockerfile or inputs and retry.",
    )


def _failed_build(
    project: Project, capsys: pytest.CaptureFixture[str], tail: list[str], *argv: str
) -> str:
    host = _host(build_error=buildx_failure(tail))
    environ = {"AGENT_RUNNER_BUILD_BASE_IMAGE": PINNED_BASE}
    code = run(["build", *argv], environ, host_factory=lambda _env: host, project_root=project.root)
    assert code == BuildError.exit_code
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


def test_an_unreachable_base_image_is_named_with_both_fixes(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _failed_build(project, capsys, NO_SUCH_HOST)
    assert line.startswith(
        "agent-runner-build: Building the image failed because its base image "
        f"{PINNED_BASE} cannot be pulled (no such host). "
    )
    assert "access to that registry" in line
    assert "run `nox -s base_image` once, then set AGENT_RUNNER_BUILD_OFFLINE=1." in line


def test_a_missing_offline_base_says_to_seed_it(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _failed_build(project, capsys, NOT_FOUND, "--offline")
    assert f"the offline base image {OFFLINE_BASE} cannot be pulled" in line
    assert "(not found)" in line
    assert "Seed it with `nox -s base_image`" in line
    assert f"unset AGENT_RUNNER_BUILD_OFFLINE to build from {PINNED_BASE}" in line


@pytest.mark.parametrize(
    ("tail", "argv"),
    [(STEP_FAILED, ()), (NO_SUCH_HOST, ("--offline",))],  # not the base that is in use
    ids=["a failing step", "another image"],
)
def test_other_build_failures_keep_buildx_words(
    project: Project, capsys: pytest.CaptureFixture[str], tail: list[str], argv: tuple[str, ...]
) -> None:
    line = _failed_build(project, capsys, tail, *argv)
    assert line.endswith("fix the Dockerfile or inputs and retry.")
    assert tail[-1] in line


def test_building_outside_a_checkout_says_where_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _host()
    code = run(["build"], {}, host_factory=lambda _env: host, project_root=tmp_path)
    assert code == ConfigError.exit_code
    err = capsys.readouterr().err
    assert (
        f"{tmp_path} is not an agent-runner checkout. Run this from an agent-runner checkout."
        in err
    )
    assert host.calls == []


def test_every_stage_hands_on_files_clamped_to_source_date_epoch() -> None:
    """The reproducibility recipe (see the Dockerfile): each builder stage clamps what the
    runtime stage copies from it, and no step compiles in a run-dependent order."""
    stages = dict(re.findall(r"^FROM [^\n]* AS (\w+)\n(.*?)(?=^FROM |\Z)", DOCKERFILE, re.M | re.S))
    # Only the code depends on the commit; the rest is clamped to a constant so that a new
    # commit reuses their cached layers.
    assert "ARG SOURCE_DATE_EPOCH" in stages["code"]
    assert 'python3 -c "$CLAMP_TREE" "${SOURCE_DATE_EPOCH:-0}"' in stages["code"]
    for name in ("deps", "stdlib"):
        assert "SOURCE_DATE_EPOCH" not in stages[name].replace("# No SOURCE_DATE_EPOCH", "")
        assert 'python3 -c "$CLAMP_TREE" 0 ' in stages[name]
    steps = [line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in steps if "compileall -q -j" in line]
    runtime_run = stages["runtime"].split("COPY --from", 1)[0]
    assert "ARG SOURCE_DATE_EPOCH" not in runtime_run
    assert "touch -c -h -d @0 " in runtime_run


def test_the_entrypoint_is_the_contracts() -> None:
    """The flag that makes a root start drop to the workspace owner is the image's only."""
    contract = load_contract(PROJECT_ROOT)
    entrypoint = re.findall(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert [json.loads(e) for e in entrypoint] == [list(contract.ENTRYPOINT)]
