"""Filesystem sandbox: one directory per thread, no way out of it."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

_THREAD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_READ_BYTES = 1_000_000


class SandboxViolation(Exception):
    """A path or thread id that would leave the sandbox."""


def validate_thread_id(thread_id: str) -> str:
    # Separators, "..", leading dots and NULs are all rejected by the pattern.
    if not _THREAD_ID_RE.match(thread_id) or thread_id in (".", ".."):
        raise SandboxViolation(
            f"invalid thread id {thread_id!r}: use 1-128 of [A-Za-z0-9._-], "
            "starting with a letter or digit"
        )
    return thread_id


def new_thread_id() -> str:
    return f"thread-{uuid.uuid4().hex}"


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def thread_dir(self, thread_id: str) -> Path:
        path = self.root / validate_thread_id(thread_id)
        if path.is_symlink():
            raise SandboxViolation(f"thread directory {thread_id!r} is a symlink")
        return path

    def ensure_thread(self, thread_id: str | None) -> tuple[str, bool]:
        """Create (or reuse) a thread directory; return (thread id, created)."""
        tid = thread_id or new_thread_id()
        path = self.thread_dir(tid)
        try:
            path.mkdir(mode=0o750)
        except FileExistsError:
            if not path.is_dir():
                raise SandboxViolation(f"{tid!r} exists and is not a directory") from None
            return tid, False
        return tid, True

    def cleanup(self, thread_id: str) -> bool:
        path = self.thread_dir(thread_id)
        if not path.exists():
            return False
        # rmtree does not follow symlinks inside the tree, so links cannot redirect it.
        shutil.rmtree(path)
        return True


class ThreadFiles:
    """File operations confined to one thread directory."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve(strict=True)
        self.written: list[str] = []

    def resolve(self, relative: str) -> Path:
        if not relative or "\x00" in relative:
            raise SandboxViolation(f"invalid path {relative!r}")
        candidate = Path(relative)
        if candidate.is_absolute():
            raise SandboxViolation(f"absolute paths are not allowed: {relative!r}")
        if ".." in candidate.parts:
            raise SandboxViolation(f"'..' is not allowed in paths: {relative!r}")
        # resolve() follows every symlink, so containment here covers symlink escapes.
        resolved = (self.base / candidate).resolve()
        if resolved != self.base and not resolved.is_relative_to(self.base):
            raise SandboxViolation(f"path escapes the thread directory: {relative!r}")
        return resolved

    def relative(self, path: Path) -> str:
        return path.relative_to(self.base).as_posix()

    def write_file(self, relative: str, content: str) -> str:
        target = self.resolve(relative)
        if target == self.base:
            raise SandboxViolation("cannot write to the thread directory itself")
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW closes the race where a symlink appears after resolve().
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        name = self.relative(target)
        if name not in self.written:
            self.written.append(name)
        return f"wrote {len(content.encode())} bytes to {name}"

    def read_file(self, relative: str) -> str:
        target = self.resolve(relative)
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_READ_BYTES + 1)
        text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
        return text + ("\n[truncated]" if len(data) > MAX_READ_BYTES else "")

    def list_files(self, relative: str = ".") -> list[str]:
        start = self.resolve(relative)
        out = [
            self.relative(Path(dirpath) / name)
            for dirpath, _, filenames in os.walk(start)
            for name in filenames
        ]
        return sorted(out)
