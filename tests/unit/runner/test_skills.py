"""Skills land in <workspace>/bin/skills/<hash>/ and their SKILL.md in the prompt."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from agent_runner.skills import SkillWriteError, prompt_section, write_skills
from agent_runner.wire.skill_pb2 import Skill


def _skill(name: str, version_hash: str = "abc123", skill_md: str = "# Use me") -> Skill:
    skill = Skill()
    skill.metadata.id = f"skl_{name}"
    skill.metadata.name = name
    skill.metadata.slug = name
    skill.spec.skill_md = skill_md
    skill.status.version_hash = version_hash
    return skill


def _zip(**files: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_skill_md_and_artifact_are_written(tmp_path: Path) -> None:
    skill = _skill("deploy")
    written = write_skills(tmp_path, [skill], {"skl_deploy": _zip(**{"run.sh": "echo hi"})})
    directory = tmp_path / "bin" / "skills" / "abc123"
    assert (directory / "SKILL.md").read_text() == "# Use me"
    assert (directory / "run.sh").stat().st_mode & 0o111
    section = prompt_section(written)
    assert "LOCATION: /bin/skills/abc123/" in section
    assert "# Use me" in section
    assert prompt_section([]) == ""


def test_slug_when_no_version_hash(tmp_path: Path) -> None:
    write_skills(tmp_path, [_skill("lint", version_hash="")], {})
    assert (tmp_path / "bin" / "skills" / "lint" / "SKILL.md").is_file()


def test_an_artifact_cannot_escape_its_directory(tmp_path: Path) -> None:
    evil = _zip(**{"../../outside.txt": "x"})
    with pytest.raises(SkillWriteError, match="escapes"):
        write_skills(tmp_path, [_skill("evil")], {"skl_evil": evil})
    assert not (tmp_path / "outside.txt").exists()


def test_a_bad_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SkillWriteError):
        write_skills(tmp_path, [_skill("x", version_hash="..")], {})
