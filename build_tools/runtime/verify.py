"""`agent-runner-local verify [IMAGE]` and `start --verify`: check that an image was signed
(cosign) or attested (GitHub) by this repository's release workflow, on a release tag.

`plan_verify` (pure) picks the tool: cosign when installed (it checks the keyless signature
release.yml makes with `cosign sign`), else gh (`gh attestation verify`, the build provenance
release.yml stores in GitHub's attestation store). `verify_image` runs it through the
process part of the seam; a non-zero exit is a SignatureError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from build_tools.errors import SignatureError, VerifierMissingError
from build_tools.process import Process

REPOSITORY = "stigmer/agent-runner"
RELEASE_WORKFLOW = f"{REPOSITORY}/.github/workflows/release.yml"
# The keyless certificate's identity: release.yml of this repository, run on a `v*` tag.
CERTIFICATE_IDENTITY_REGEXP = (
    r"^https://github\.com/stigmer/agent-runner/\.github/workflows/release\.yml@refs/tags/v"
)
OIDC_ISSUER = "https://token.actions.githubusercontent.com"
INSTALL_HINT = (
    "Install cosign (https://docs.sigstore.dev/cosign/system_config/installation/; "
    "Debian 13: apt install cosign) or the GitHub CLI (https://cli.github.com, then "
    "gh auth login) and retry"
)


@dataclass(frozen=True)
class VerifyPlan:
    tool: str  # cosign or gh
    argv: tuple[str, ...]
    identity: str  # what the signer must be, as the failure message names it

    def render(self) -> str:
        return " ".join(f"'{arg}'" if any(c in arg for c in "^\\$ ") else arg for arg in self.argv)


def cosign_argv(image: str) -> tuple[str, ...]:
    return (
        "cosign",
        "verify",
        "--certificate-identity-regexp",
        CERTIFICATE_IDENTITY_REGEXP,
        "--certificate-oidc-issuer",
        OIDC_ISSUER,
        image,
    )


def gh_argv(image: str) -> tuple[str, ...]:
    return (
        "gh",
        "attestation",
        "verify",
        f"oci://{image}",
        "--repo",
        REPOSITORY,
        "--signer-workflow",
        RELEASE_WORKFLOW,
    )


def plan_verify(image: str, installed: Callable[[str], bool]) -> VerifyPlan:
    """cosign when `installed("cosign")`, else gh; neither is a VerifierMissingError."""
    if installed("cosign"):
        identity = f"{CERTIFICATE_IDENTITY_REGEXP} (issuer {OIDC_ISSUER})"
        return VerifyPlan("cosign", cosign_argv(image), identity)
    if installed("gh"):
        return VerifyPlan("gh", gh_argv(image), f"{RELEASE_WORKFLOW} of {REPOSITORY}")
    raise VerifierMissingError(
        f"Verifying {image}",
        "neither cosign nor gh is installed or on PATH",
        f"{INSTALL_HINT}.",
    )


def verify_image(process: Process, image: str) -> VerifyPlan:
    """Run the planned verification; a failure names the image and the identity expected."""
    plan = plan_verify(image, lambda program: process.which(program) is not None)
    result = process.run(plan.argv, check=False)
    if result.returncode != 0:
        raise SignatureError(
            f"Verifying {image} with {plan.tool}",
            f"it is not signed by {plan.identity} ({plan.tool} said: {result.last_line()})",
            "Use a released image (agent-runner-local verify IMAGE:X.Y.Z) pulled from the "
            "release registry, or log in to that registry (gh: gh auth login) and retry.",
        )
    return plan
