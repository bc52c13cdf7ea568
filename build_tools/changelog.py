"""The `_changelog/` convention: one Markdown entry per change, assembled into release notes.

An entry lives at `_changelog/YYYY-MM/YYYY-MM-DD-HHMMSS-slug.md` and starts with

    ---
    type: feature|fix|breaking|security|docs|chore
    summary: one line
    ---

followed by an optional Markdown body (why, what breaks, how to migrate).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from build_tools.config import ToolConfig
from build_tools.errors import ReleaseError
from build_tools.host import Host

CHANGELOG_DIR = "_changelog"
# Release notes list sections in this order: what users must act on first.
TYPES = ("breaking", "security", "feature", "fix", "docs", "chore")
SECTION_TITLES = {
    "breaking": "Breaking changes",
    "security": "Security",
    "feature": "Features",
    "fix": "Fixes",
    "docs": "Documentation",
    "chore": "Maintenance",
}
# Files in _changelog/ that are not entries.
NOT_ENTRIES = frozenset({"README.md"})
_NAME = re.compile(
    r"^(?P<month>\d{4}-\d{2})/(?P<stamp>(?P=month)-\d{2}-\d{6})-(?P<slug>[a-z0-9]+(?:-[a-z0-9]+)*)\.md$"
)
_MAX_SUMMARY = 120
_MAX_SLUG = 48


@dataclass(frozen=True)
class Entry:
    path: str  # relative to _changelog/, POSIX separators
    type: str
    summary: str
    body: str


def _problem(path: str, why: str) -> str:
    return f"{CHANGELOG_DIR}/{path}: {why}"


def check_name(relative: str) -> list[str]:
    """Problems with an entry's path (relative to _changelog/); empty when it is valid."""
    match = _NAME.match(relative)
    if match is None:
        return [_problem(relative, "name is not YYYY-MM/YYYY-MM-DD-HHMMSS-slug.md")]
    try:
        datetime.strptime(match["stamp"], "%Y-%m-%d-%H%M%S")
    except ValueError:
        return [_problem(relative, f"{match['stamp']} is not a real date and time")]
    return []


def parse_entry(relative: str, text: str) -> tuple[Entry | None, list[str]]:
    """Parse the front matter; return the entry, or None with the problems found."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        return None, [_problem(relative, "does not start with a --- front matter block")]
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    fields: dict[str, str] = {}
    problems: list[str] = []
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or key not in {"type", "summary"}:
            problems.append(_problem(relative, f"unexpected front matter line {line!r}"))
        elif key in fields:
            problems.append(_problem(relative, f"{key} is given twice"))
        else:
            fields[key] = value.strip("\"'")
    kind, summary = fields.get("type", ""), fields.get("summary", "")
    if kind not in TYPES:
        problems.append(_problem(relative, f"type {kind!r} is not one of {', '.join(TYPES)}"))
    if not summary:
        problems.append(_problem(relative, "summary is missing or empty"))
    elif len(summary) > _MAX_SUMMARY:
        problems.append(_problem(relative, f"summary is longer than {_MAX_SUMMARY} characters"))
    if problems:
        return None, problems
    body = "\n".join(lines[end + 1 :]).strip()
    return Entry(relative, kind, summary, body), []


def read_entries(
    root: Path,
    only: Iterable[str] | None = None,
    read: Callable[[str], str] | None = None,
) -> tuple[list[Entry], list[str]]:
    """Entries under `root/_changelog` (or just `only`, paths relative to it) and problems.

    `read` returns an entry's text from its relative path (default: the working tree).
    """
    base = root / CHANGELOG_DIR
    if read is None:

        def read(relative: str) -> str:
            return (base / relative).read_text(encoding="utf-8")

    if only is None:
        files = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
    else:
        files = sorted(only)
    entries: list[Entry] = []
    problems: list[str] = []
    for relative in files:
        if relative in NOT_ENTRIES:
            continue
        name_problems = check_name(relative)
        if name_problems:
            problems += name_problems
            continue
        entry, found = parse_entry(relative, read(relative))
        problems += found
        if entry is not None:
            entries.append(entry)
    return entries, problems


def check_tree(root: Path) -> list[str]:
    """Every problem in `_changelog/`; CI fails on any."""
    return read_entries(root)[1]


def slugify(summary: str) -> str:
    words = re.findall(r"[a-z0-9]+", summary.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > _MAX_SLUG:
            break
        slug = candidate
    return slug or "change"


def entry_path(summary: str, now: datetime) -> str:
    """Where an entry for `summary` made at `now` goes, relative to _changelog/."""
    return f"{now:%Y-%m}/{now:%Y-%m-%d-%H%M%S}-{slugify(summary)}.md"


def render_entry(kind: str, summary: str, body: str = "") -> str:
    text = f"---\ntype: {kind}\nsummary: {summary}\n---\n"
    return text + (f"\n{body.strip()}\n" if body.strip() else "")


def create_entry(root: Path, summary: str, kind: str, now: datetime, body: str = "") -> Path:
    """Write a new entry; refuse invalid input or an existing file (nothing is written then)."""
    summary = " ".join(summary.split())
    relative = entry_path(summary, now)
    text = render_entry(kind, summary, body)
    _, problems = parse_entry(relative, text)
    if problems:
        raise ReleaseError(
            "Creating a changelog entry", "; ".join(problems), "Fix the type or summary and retry."
        )
    path = root / CHANGELOG_DIR / relative
    if path.exists():
        raise ReleaseError(
            f"Creating {path}", "an entry with that name exists", "Wait a second or reword it."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def changed_entry_paths(diff_names: Sequence[str]) -> list[str]:
    """From `git diff --name-only` output lines, the entries (relative to _changelog/)."""
    prefix = f"{CHANGELOG_DIR}/"
    return sorted(
        str(PurePosixPath(name).relative_to(CHANGELOG_DIR))
        for name in diff_names
        if name.startswith(prefix) and name[len(prefix) :] not in NOT_ENTRIES
    )


def assemble_notes(title: str, entries: Sequence[Entry]) -> str:
    """Release notes: a title, then one section per type in TYPES order, entries by time."""
    parts = [f"# {title}", ""]
    if not entries:
        parts += ["No user-facing changes.", ""]
    for kind in TYPES:
        chosen = sorted((e for e in entries if e.type == kind), key=lambda e: e.path)
        if not chosen:
            continue
        parts += [f"## {SECTION_TITLES[kind]}", ""]
        for entry in chosen:
            parts.append(f"- {entry.summary}")
            if entry.body and kind in {"breaking", "security"}:
                # Breaking and security entries carry their whole explanation and migration.
                parts += ["", *(f"  {line}" if line else "" for line in entry.body.splitlines())]
                parts.append("")
        if parts[-1]:
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def run_changelog(args: argparse.Namespace, config: ToolConfig, host: Host) -> int:
    now = datetime.now(tz=UTC)
    path = create_entry(config.project_root, args.summary, args.kind, now)
    print(f"created {path.relative_to(config.project_root)}: add the why and any migration")
    return 0


def run_check_changelog(args: argparse.Namespace, config: ToolConfig, host: Host) -> int:
    problems = check_tree(config.project_root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        raise ReleaseError(
            f"Checking {CHANGELOG_DIR}/",
            f"{len(problems)} entr{'y is' if len(problems) == 1 else 'ies are'} invalid",
            f"Fix them (see {CHANGELOG_DIR}/README.md) and rerun.",
        )
    count = len(read_entries(config.project_root)[0])
    print(f"{CHANGELOG_DIR}/: {count} entries, all valid")
    return 0
