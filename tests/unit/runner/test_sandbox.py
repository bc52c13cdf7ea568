"""Sandbox containment: thread ids, traversal, absolute paths, symlink escapes."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_runner.sandbox import Sandbox, SandboxViolation, ThreadFiles, validate_thread_id


@pytest.mark.parametrize(
    "thread_id", ["", ".", "..", "../x", "a/b", "a\\b", "/abs", ".hidden", "a\x00b", "x" * 129]
)
def test_bad_thread_ids(thread_id: str) -> None:
    with pytest.raises(SandboxViolation):
        validate_thread_id(thread_id)


@pytest.mark.parametrize("thread_id", ["t1", "thread-abc_1.2", "A" * 128])
def test_good_thread_ids(thread_id: str) -> None:
    assert validate_thread_id(thread_id) == thread_id


def test_ensure_thread_creates_then_reuses(tmp_path: Path) -> None:
    box = Sandbox(tmp_path)
    tid, created = box.ensure_thread(None)
    assert created
    assert (tmp_path / tid).is_dir()
    assert box.ensure_thread(tid) == (tid, False)


def test_ensure_thread_refuses_symlinked_thread_dir(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "evil").symlink_to(outside)
    with pytest.raises(SandboxViolation):
        Sandbox(root).ensure_thread("evil")
    with pytest.raises(SandboxViolation):
        Sandbox(root).cleanup("evil")
    assert outside.exists()


def test_ensure_thread_refuses_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(SandboxViolation):
        Sandbox(tmp_path).ensure_thread("f")


def test_cleanup_does_not_follow_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    box = Sandbox(tmp_path / "root")
    (tmp_path / "root").mkdir()
    tid, _ = box.ensure_thread("t")
    (tmp_path / "root" / "t" / "link").symlink_to(outside)
    assert box.cleanup(tid) is True
    assert (outside / "keep.txt").read_text() == "keep"
    assert box.cleanup(tid) is False


@pytest.fixture
def files(tmp_path: Path) -> ThreadFiles:
    base = tmp_path / "thread"
    base.mkdir()
    return ThreadFiles(base)


def test_write_read_list(files: ThreadFiles) -> None:
    assert "bytes" in files.write_file("a/b.txt", "hello")
    files.write_file("top.txt", "x")
    files.write_file("a/b.txt", "hello again")
    assert files.read_file("a/b.txt") == "hello again"
    assert files.list_files() == ["a/b.txt", "top.txt"]
    assert files.list_files("a") == ["a/b.txt"]
    assert files.written == ["a/b.txt", "top.txt"]


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "", "a\x00"])
def test_traversal_and_absolute_refused(files: ThreadFiles, path: str) -> None:
    with pytest.raises(SandboxViolation):
        files.write_file(path, "x")
    with pytest.raises(SandboxViolation):
        files.read_file(path)


def test_symlink_dir_escape_refused(files: ThreadFiles, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    (files.base / "out").symlink_to(outside)
    with pytest.raises(SandboxViolation):
        files.read_file("out/secret")
    with pytest.raises(SandboxViolation):
        files.write_file("out/new", "x")
    with pytest.raises(SandboxViolation):
        files.list_files("out")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_symlink_file_escape_refused(files: ThreadFiles, tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("original")
    (files.base / "link.txt").symlink_to(target)
    with pytest.raises(SandboxViolation):
        files.write_file("link.txt", "overwritten")
    with pytest.raises(SandboxViolation):
        files.read_file("link.txt")
    assert target.read_text() == "original"


def test_symlink_inside_sandbox_is_fine(files: ThreadFiles) -> None:
    files.write_file("real.txt", "data")
    (files.base / "alias.txt").symlink_to(files.base / "real.txt")
    # Links that resolve inside the thread directory are harmless.
    assert files.read_file("alias.txt") == "data"


def test_cannot_write_the_directory_itself(files: ThreadFiles) -> None:
    with pytest.raises(SandboxViolation):
        files.write_file(".", "x")
