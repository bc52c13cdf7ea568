"""The `_changelog/` convention: one Markdown entry per change, assembled into release notes.

Two entry formats are read, so a history kept the way upstream Stigmer keeps it validates and
feeds the release notes as it is, next to entries in this project's own format.

Ours (what `nox -s changelog` writes), named `_changelog/YYYY-MM/YYYY-MM-DD-HHMMSS-slug.md`:

    ---
    type: feature|fix|breaking|security|docs|chore
    summary: one line
    ---

then an optional Markdown body (why, what breaks, how to migrate).

Stigmer's: no front matter; an H1 title (the summary), bold metadata lines (`**Key**: value`
or `**Key:** value`: `Date`, `Type`, `Impact`, `Scope`, ...), then prose (the body). Named
`STAMP-slug.md`, STAMP `YYYY-MM-DD-HHMMSS`, `YYYY-MM-DD`, `YYYYMMDD-HHMMSS` or `YYYYMMDD`, at
the `_changelog/` root or in folders (`YYYY-MM/`, `sdk/YYYY-MM/`, `YYYY-MM/checkpoints/`); a
`YYYY-MM` folder must be the stamp's month. Only `Type`, `Impact` and `Breaking` are used.
Its free-text `Type` maps to our types:
- breaking: the Type says "breaking", `**Breaking**: yes`, or the Impact says "breaking
  change" (a "no"/"non" before it does not count);
- security: "security", "vulnerability" or "CVE" anywhere in the Type;
- else the Type's first keyword: fix/bug/hotfix/regression -> fix; feat/feature/enhancement/
  implementation/add/new -> feature; doc/docs/documentation -> docs; refactor(ing), test(s),
  build, ci, infrastructure, architecture, migration, cleanup, maintenance, chore ... ->
  chore. So "Bug Fix + Feature Enhancement" is a fix, "Feature Migration" a feature;
- a Type without a keyword is chore; no Type: the title's first keyword, else chore.

Not entries: the root `README.md`, and anything in a folder named `_...` (upstream keeps its
tooling rules in `_changelog/_rules/`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from build_tools.config import ToolConfig
from build_tools.errors import ReleaseError
from build_tools.host import Host
from build_tools.options import ChangelogArguments, CheckChangelogArguments

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
_SLUG = r"(?P<slug>[a-z0-9]+(?:-[a-z0-9]+)*)"
_NAME = re.compile(
    rf"^(?P<month>\d{{4}}-\d{{2}})/(?P<stamp>(?P=month)-\d{{2}}-\d{{6}})-{_SLUG}\.md$"
)
# Stigmer's names: any folders, then one of four stamp spellings and a slug.
_STIGMER_NAME = re.compile(
    r"^(?P<dirs>(?:[a-z0-9][a-z0-9-]*/)*)"
    r"(?P<stamp>\d{4}-\d{2}-\d{2}-\d{6}|\d{4}-\d{2}-\d{2}|\d{8}-\d{6}|\d{8})-"
    rf"{_SLUG}\.md$"
)
_STAMP_FORMATS = ("%Y-%m-%d-%H%M%S", "%Y-%m-%d", "%Y%m%d-%H%M%S", "%Y%m%d")
_MONTH_DIR = re.compile(r"^\d{4}-\d{2}$")
_METADATA = re.compile(r"^\*\*(?P<key>[A-Za-z][A-Za-z /]*?)(?::\*\*|\*\*:)(?P<value>.*)$")
_MAX_SUMMARY = 120
_MAX_SLUG = 48

# Stigmer `Type` keywords -> our types (see the module docstring for the rules).
_KEYWORDS = {
    **dict.fromkeys(("fix", "fixes", "fixed", "bug", "bugs", "bugfix", "hotfix"), "fix"),
    **dict.fromkeys(("regression",), "fix"),
    **dict.fromkeys(("feat", "feature", "features", "enhancement", "enhancements"), "feature"),
    **dict.fromkeys(("enhance", "implementation", "implement", "add", "new"), "feature"),
    **dict.fromkeys(("doc", "docs", "documentation"), "docs"),
    **dict.fromkeys(
        ("chore", "refactor", "refactoring", "test", "tests", "testing", "build", "ci",
         "infrastructure", "architecture", "migration", "cleanup", "maintenance", "debug",
         "analysis", "investigation", "perf", "performance"),
        "chore",
    ),
}  # fmt: skip
_SECURITY_WORDS = frozenset({"security", "vulnerability", "vulnerabilities", "cve"})
_NEGATIONS = frozenset({"no", "non", "not", "without"})


@dataclass(frozen=True)
class Entry:
    path: str  # relative to _changelog/, POSIX separators
    type: str
    summary: str
    body: str


def _problem(path: str, why: str) -> str:
    return f"{CHANGELOG_DIR}/{path}: {why}"


def check_name(relative: str) -> list[str]:
    """Problems with the path of an entry in our format (relative to _changelog/)."""
    match = _NAME.match(relative)
    if match is None:
        return [_problem(relative, "name is not YYYY-MM/YYYY-MM-DD-HHMMSS-slug.md")]
    try:
        datetime.strptime(match["stamp"], "%Y-%m-%d-%H%M%S")
    except ValueError:
        return [_problem(relative, f"{match['stamp']} is not a real date and time")]
    return []


def _stamp_time(stamp: str) -> datetime | None:
    for layout in _STAMP_FORMATS:
        try:
            return datetime.strptime(stamp, layout)
        except ValueError:
            continue
    return None


def check_stigmer_name(relative: str) -> list[str]:
    """Problems with the path of an entry in Stigmer's format; empty when it is valid."""
    match = _STIGMER_NAME.match(relative)
    if match is None:
        return [
            _problem(
                relative,
                "name is not [FOLDER/]STAMP-slug.md, STAMP one of YYYY-MM-DD-HHMMSS, "
                "YYYY-MM-DD, YYYYMMDD-HHMMSS, YYYYMMDD",
            )
        ]
    when = _stamp_time(match["stamp"])
    if when is None:
        return [_problem(relative, f"{match['stamp']} is not a real date and time")]
    months = [part for part in match["dirs"].split("/") if _MONTH_DIR.match(part)]
    if any(month != f"{when:%Y-%m}" for month in months):
        return [_problem(relative, f"{match['stamp']} is not in folder {months[-1]}")]
    return []


def entry_time(relative: str) -> datetime | None:
    """When an entry was written, from its name (either format); None if it has no stamp."""
    match = _STIGMER_NAME.match(relative)
    return _stamp_time(match["stamp"]) if match else None


def is_stigmer_format(text: str) -> bool:
    """No front matter, an H1 title first: an entry written the way upstream Stigmer does."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first.startswith("#") and not first.startswith("##")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _says_breaking(text: str, *, change_needed: bool) -> bool:
    words = _words(text)
    for index, word in enumerate(words):
        if word != "breaking" or (index and words[index - 1] in _NEGATIONS):
            continue
        if not change_needed or words[index + 1 : index + 2] in (["change"], ["changes"]):
            return True
    return False


def stigmer_type(metadata: dict[str, str], title: str) -> str:
    """Our change type for a Stigmer entry's metadata (rules in the module docstring)."""
    declared = metadata.get("type", "")
    breaking = metadata.get("breaking", "")
    if (
        _says_breaking(declared, change_needed=False)
        or _words(breaking)[:1] == ["yes"]
        or _says_breaking(metadata.get("impact", ""), change_needed=True)
    ):
        return "breaking"
    if _SECURITY_WORDS & set(_words(declared)):
        return "security"
    for word in _words(declared or title):
        if word in _KEYWORDS:
            return _KEYWORDS[word]
    return "chore"


def _parse_stigmer_entry(relative: str, text: str) -> tuple[Entry | None, list[str]]:
    """Stigmer's format (`is_stigmer_format`): H1 title, bold metadata lines, the body."""
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip())
    # Some upstream titles start with "Changelog:", which says nothing in release notes.
    title = re.sub(r"^changelog:\s*", "", lines[index].strip()[1:].strip(), flags=re.IGNORECASE)
    if not title:
        return None, [_problem(relative, "its H1 title is empty")]
    if len(title) > _MAX_SUMMARY:
        return None, [_problem(relative, f"its title is longer than {_MAX_SUMMARY} characters")]
    metadata: dict[str, str] = {}
    body_start = index + 1
    for line in lines[index + 1 :]:  # the metadata block: bold lines and blank lines
        match = _METADATA.match(line.strip())
        if line.strip() and match is None:
            break
        if match is not None:
            metadata.setdefault(match["key"].strip().lower(), match["value"].strip())
        body_start += 1
    body = "\n".join(lines[body_start:]).strip()
    return Entry(relative, stigmer_type(metadata, title), title, body), []


def parse_entry(relative: str, text: str) -> tuple[Entry | None, list[str]]:
    """Parse either format; return the entry, or None with the problems found."""
    if is_stigmer_format(text):
        return _parse_stigmer_entry(relative, text)
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        return None, [
            _problem(relative, "does not start with a --- front matter block or an H1 title")
        ]
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
        if not is_entry_path(relative):
            continue
        if not relative.endswith(".md"):
            problems += check_name(relative)
            continue
        text = read(relative)
        entry, found = parse_entry(relative, text)
        if entry is not None:  # the format is known: its naming rule applies
            found = (check_stigmer_name if is_stigmer_format(text) else check_name)(relative)
        problems += found
        if entry is not None and not found:
            entries.append(entry)
    return entries, problems


def is_entry_path(relative: str) -> bool:
    """Whether a file under _changelog/ is meant as an entry (not the README or tooling)."""
    parts = PurePosixPath(relative).parts
    return relative not in NOT_ENTRIES and not any(part.startswith("_") for part in parts[:-1])


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
        relative
        for name in diff_names
        if name.startswith(prefix) and is_entry_path(relative := name[len(prefix) :])
    )


def assemble_notes(title: str, entries: Sequence[Entry]) -> str:
    """Release notes: a title, then one section per type in TYPES order, entries by time
    (their names' stamps, wherever they sit; the path breaks ties)."""
    parts = [f"# {title}", ""]
    if not entries:
        parts += ["No user-facing changes.", ""]
    for kind in TYPES:
        chosen = sorted((e for e in entries if e.type == kind), key=_written_order)
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


def _written_order(entry: Entry) -> tuple[datetime, str]:
    return (entry_time(entry.path) or datetime.min, entry.path)


def run_changelog(args: ChangelogArguments, config: ToolConfig, host: Host) -> int:
    now = datetime.now(tz=UTC)
    path = create_entry(config.project_root, args.summary, args.kind, now)
    print(f"created {path.relative_to(config.project_root)}: add the why and any migration")
    return 0


def run_check_changelog(args: CheckChangelogArguments, config: ToolConfig, host: Host) -> int:
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
