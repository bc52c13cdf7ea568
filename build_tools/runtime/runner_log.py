"""Reading agent-runner's log lines with the runtime contract's own parser.

Every line the runner writes is `<UTC timestamp> <LEVEL> <JSON object>`; the format is
declared, written and parsed in `agent_runner/contract.py` (`parse_log_line`), which the
toolchain loads by path like the rest of the contract. Readers here only add what docker may
put in front of a line (`docker logs --timestamps`) and skip every line that is not in the
format (a traceback, a shell's message, another program's output).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from build_tools.runtime.contract_loader import load_contract

LogLineParser = Callable[[str], dict[str, Any] | None]
# The checkout this toolchain runs from (outside one, the installed runner's contract).
_CHECKOUT = Path(__file__).resolve().parents[2]
# docker's --timestamps prefix: RFC 3339 with nanoseconds, then one space.
_DOCKER_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def contract_parser(project_root: Path = _CHECKOUT) -> LogLineParser:
    """The contract's `parse_log_line`: a line -> its JSON object with "ts" and "level"
    added, or None for a line that is not in the format."""
    parser: LogLineParser = load_contract(project_root).parse_log_line
    return parser


def parse_runner_line(line: str, parse: LogLineParser | None = None) -> dict[str, Any] | None:
    """One runner log line, bare or behind docker's timestamp, -> its record (or None)."""
    parse = parse or contract_parser()
    text = line.strip()
    record = parse(text)
    if record is None:
        head, sep, rest = text.partition(" ")
        if sep and _DOCKER_STAMP.match(head):
            record = parse(rest)
    return record


def runner_records(
    lines: Iterable[str], parse: LogLineParser | None = None
) -> list[dict[str, Any]]:
    """The records of the runner lines among `lines`, in order; other lines are skipped."""
    parse = parse or contract_parser()
    return [record for line in lines if (record := parse_runner_line(line, parse)) is not None]


def find_record(
    lines: Iterable[str], parse: LogLineParser | None = None, **match: Any
) -> dict[str, Any] | None:
    """The first record whose fields equal `match` (e.g. `event="ready"`), or None."""
    for record in runner_records(lines, parse):
        if all(record.get(key) == value for key, value in match.items()):
            return record
    return None
