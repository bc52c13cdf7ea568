"""The git part of the seam: every git command line, run through a `Process`.

A failing git command is a `GitError` (exit 9) carrying git's own words; the release and
publish steps receive a `Git` and unit tests pass `tests/unit/fakes.FakeGit`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from build_tools.errors import GitError
from build_tools.process import Process


class Git(Protocol):
    """`git ARGS` in a repository; returns stdout, raises GitError on failure."""

    def run(self, args: Sequence[str], *, cwd: Path) -> str: ...


class RealGit:
    def __init__(self, process: Process) -> None:
        self._process = process

    def run(self, args: Sequence[str], *, cwd: Path) -> str:
        result = self._process.run(["git", *args], cwd=cwd, check=False)
        if result.returncode != 0:
            # git's own words, every line (stdout when git wrote there, as `commit` does).
            said = (result.stderr.strip() or result.stdout.strip()).splitlines()
            detail = " | ".join(line.strip() for line in said if line.strip())
            # The command up to its message: -m carries multi-line release notes.
            shown = list(itertools.takewhile(lambda arg: arg not in ("-m", "--message"), args))
            raise GitError(
                f"`git {' '.join(shown[:4])}`",
                f"git exited with {result.returncode}: {detail or 'no output'}",
                "Fix the repository state and retry.",
            )
        return result.stdout
