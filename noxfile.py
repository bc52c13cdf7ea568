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
    session.install("--require-hashes", "-r", LOCK)
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
    """Unit and integration tests (real Docker, registry and Temporal); args go to pytest."""
    _install(session, "test")
    # pytest exits 5 when it collected nothing; nox treats every non-zero code as failure,
    # so a filter that selects no test fails the session instead of passing silently.
    session.run("python", "-m", "pytest", *(session.posargs or ["tests"]))


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build the agent-runner image (host platform, loaded); see `-- --help`."""
    _install(session)
    _tool(session, "build")


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
