"""Activity inputs and outputs (JSON on the wire via temporalio's default converter)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EnsureThreadInput:
    thread_id: str | None = None


@dataclass
class EnsureThreadResult:
    thread_id: str
    created: bool


@dataclass
class ExecuteGraphtonInput:
    thread_id: str
    prompt: str
    system_prompt: str | None = None
    # Overrides STIGMER_LLM_MODEL for this run when set.
    model: str | None = None
    max_steps: int | None = None


@dataclass
class ExecuteGraphtonResult:
    thread_id: str
    status: str
    final_message: str
    files_written: list[str] = field(default_factory=list)
    steps: int = 0
    tool_calls: int = 0


@dataclass
class CleanupSandboxInput:
    thread_id: str


@dataclass
class CleanupSandboxResult:
    thread_id: str
    removed: bool
