"""Skills in the workspace: `bin/skills/<version hash>/`, and their SKILL.md in the prompt.

Upstream's layout (ADR 001 of Stigmer): each skill's files live under
`/bin/skills/<version_hash>/` of the sandbox, and its full SKILL.md goes into the system
prompt with a LOCATION line, so the agent knows the interface without reading files. Here
the sandbox root is the workspace, so the directory is `<workspace>/bin/skills/<hash>/`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agent_runner.wire.skill_pb2 import Skill

SKILLS_DIR = PurePosixPath("/bin/skills")
# Extracted scripts are made executable, as upstream does.
_EXECUTABLE_SUFFIXES = (".sh", ".py", ".js", ".ts", ".rb", ".pl")
MAX_ARTIFACT_BYTES = 50_000_000


class SkillWriteError(Exception):
    pass


@dataclass(frozen=True)
class WrittenSkill:
    name: str
    location: PurePosixPath  # as the agent sees it (sandbox-absolute)
    skill_md: str


def _dir_name(skill: Skill) -> str:
    name = skill.status.version_hash or skill.metadata.slug.replace("/", "_")
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise SkillWriteError(f"skill {skill.metadata.name!r} has no usable version hash or slug")
    return name


def _extract(artifact: bytes, target: Path) -> None:
    if len(artifact) > MAX_ARTIFACT_BYTES:
        raise SkillWriteError(f"artifact is over {MAX_ARTIFACT_BYTES} bytes")
    try:
        with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
            for member in archive.infolist():
                destination = (target / member.filename).resolve()
                # No member may land outside the skill's directory (zip slip).
                if not destination.is_relative_to(target.resolve()):
                    raise SkillWriteError(f"artifact member {member.filename!r} escapes")
            archive.extractall(target)
    except zipfile.BadZipFile as exc:
        raise SkillWriteError(f"artifact is not a zip file ({exc})") from exc
    for path in target.rglob("*"):
        if path.is_file() and path.suffix in _EXECUTABLE_SUFFIXES:
            path.chmod(0o755)


def write_skills(
    workspace: Path, skills: Sequence[Skill], artifacts: Mapping[str, bytes]
) -> list[WrittenSkill]:
    written = []
    for skill in skills:
        location = SKILLS_DIR / _dir_name(skill)
        target = workspace / location.relative_to("/")
        try:
            target.mkdir(parents=True, exist_ok=True)
            artifact = artifacts.get(skill.metadata.id)
            if artifact is not None:
                _extract(artifact, target)
            if skill.spec.skill_md or not (target / "SKILL.md").exists():
                (target / "SKILL.md").write_text(skill.spec.skill_md, encoding="utf-8")
        except OSError as exc:
            raise SkillWriteError(
                f"writing skill {skill.metadata.name!r} to {target} failed ({exc.strerror})"
            ) from exc
        written.append(WrittenSkill(skill.metadata.name, location, skill.spec.skill_md))
    return written


def prompt_section(skills: Sequence[WrittenSkill]) -> str:
    if not skills:
        return ""
    parts = ["", "", "## Skills", "", "These skills are installed; use them when they fit."]
    for skill in skills:
        parts += ["", f"### {skill.name}", f"LOCATION: {skill.location}/", "", skill.skill_md]
    return "\n".join(parts) + "\n"
