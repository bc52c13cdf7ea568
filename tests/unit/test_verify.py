"""Image verification: the cosign / gh command lines and identity, which tool is chosen,
the exit codes of a failure (14) and of no verifier (15), and `start --verify`."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from build_tools.errors import RuntimeContainerError, SignatureError, VerifierMissingError
from build_tools.process import CommandResult
from build_tools.runtime.cli import Machine, run
from build_tools.runtime.verify import plan_verify, verify_image
from tests.unit.fakes import FakeHost
from tests.unit.runtime.conftest import DOCKER_UP, PROJECT_ROOT, FakeTime

IMAGE = "registry.test/stigmer/agent-runner:1.2.0"
IDENTITY = r"^https://github\.com/stigmer/agent-runner/\.github/workflows/release\.yml@refs/tags/v"
COSIGN = (
    "cosign",
    "verify",
    "--certificate-identity-regexp",
    IDENTITY,
    "--certificate-oidc-issuer",
    "https://token.actions.githubusercontent.com",
    IMAGE,
)
GH = (
    "gh",
    "attestation",
    "verify",
    f"oci://{IMAGE}",
    "--repo",
    "stigmer/agent-runner",
    "--signer-workflow",
    "stigmer/agent-runner/.github/workflows/release.yml",
)
OK = CommandResult((), 0, "[]\n", "")
BAD = CommandResult((), 1, "", "Error: no matching signatures: none of the expected identities\n")


def _host(*programs: str, **answers: CommandResult) -> FakeHost:
    commands = {"docker version": DOCKER_UP}
    commands.update(dict(answers.items()))
    return FakeHost(programs={"docker", *programs}, commands=commands)


def _ran(host: FakeHost) -> list[tuple[str, ...]]:
    return [call[1] for call in host.calls if call[0] == "run"]


def test_cosign_is_preferred_and_checks_the_release_workflow_identity() -> None:
    host = _host("cosign", "gh", cosign=OK)
    plan = verify_image(host.process, IMAGE)
    assert (plan.tool, _ran(host)) == ("cosign", [COSIGN])
    assert IDENTITY in plan.identity


def test_gh_is_used_when_cosign_is_not_installed() -> None:
    host = _host("gh", gh=OK)
    assert verify_image(host.process, IMAGE).tool == "gh"
    assert _ran(host) == [GH]


def test_plan_verify_is_pure_over_what_is_installed() -> None:
    assert plan_verify(IMAGE, lambda program: program == "gh").argv == GH
    assert plan_verify(IMAGE, lambda _program: True).argv == COSIGN


def test_a_failed_verification_names_the_image_and_the_identity_and_exits_14() -> None:
    host = _host("cosign", cosign=BAD)
    with pytest.raises(SignatureError) as caught:
        verify_image(host.process, IMAGE)
    message = str(caught.value)
    assert caught.value.exit_code == 14
    assert IMAGE in message
    assert IDENTITY in message
    assert "no matching signatures" in message


def test_no_verifier_installed_names_both_and_exits_15() -> None:
    host = _host()
    with pytest.raises(VerifierMissingError) as caught:
        verify_image(host.process, IMAGE)
    assert caught.value.exit_code == 15
    assert "cosign" in str(caught.value)
    assert "cli.github.com" in str(caught.value)
    assert _ran(host) == []


def _machine(tmp_path: Path) -> Machine:
    return Machine(
        environ={"PATH": "/bin"}, os_name="Linux", uid=1000, gid=1000, home=tmp_path,
        python="/venv/bin/python",
    )  # fmt: skip


def _cli(argv: list[str], host: FakeHost, tmp_path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stderr(err):
        code = run(
            argv, _machine(tmp_path), host_factory=lambda _env: host,
            clock=FakeTime().clock(), project_root=PROJECT_ROOT, out=out,
        )  # fmt: skip
    return code, out.getvalue(), err.getvalue()


def test_verify_command_defaults_to_the_release_image_of_this_checkout(tmp_path: Path) -> None:
    host = _host("cosign", cosign=OK)
    code, out, _ = _cli(["verify"], host, tmp_path)
    assert code == 0
    [argv] = _ran(host)
    assert argv[-1].startswith("ghcr.io/stigmer/agent-runner:")
    assert "verified with cosign" in out


def test_verify_command_exit_codes(tmp_path: Path) -> None:
    code, _, err = _cli(["verify", IMAGE], _host("gh", gh=BAD), tmp_path)
    assert code == 14
    assert IMAGE in err
    code, _, err = _cli(["verify", IMAGE], _host(), tmp_path)
    assert code == 15
    assert len(err.strip().splitlines()) == 1


def test_start_verify_runs_before_anything_starts_and_stops_on_failure(tmp_path: Path) -> None:
    host = _host("cosign", cosign=BAD)
    code, _, err = _cli(["start", "--verify", "--image", IMAGE], host, tmp_path)
    assert code == 14
    assert "Verifying" in err
    assert _ran(host) == [COSIGN]  # not even the engine check ran
    assert host.containers == {}
    assert not any(c[0] == "image_pull" for c in host.calls)


def test_start_verify_checks_first_then_starts(tmp_path: Path) -> None:
    host = _host("cosign", cosign=OK)
    host.run_error = RuntimeContainerError("Starting x", "the test stops it here", "None.")
    code, out, _ = _cli(["start", "--verify", "--image", IMAGE, "--pull", "never"], host, tmp_path)
    ran = _ran(host)
    assert ran[0] == COSIGN
    assert ran[1][:2] == ("docker", "version")
    assert "verified with cosign" in out
    assert code == 11  # the scripted container failure: the start was reached


def test_start_verify_dry_run_prints_the_verification_too(tmp_path: Path) -> None:
    host = _host("gh")
    code, out, _ = _cli(["start", "--verify", "--dry-run", "--image", IMAGE], host, tmp_path)
    assert code == 0
    assert _ran(host) == []
    assert out.splitlines()[0].startswith(f"gh attestation verify oci://{IMAGE} --repo")


def test_verify_with_no_docker_is_refused(tmp_path: Path) -> None:
    code, _, err = _cli(["start", "--verify", "--no-docker"], _host("cosign"), tmp_path)
    assert code == 2
    assert "--verify" in err
