"""What a task suite of ``bench/agent_tasks.py`` is: tasks from third-party data, and a check.

A suite loads its tasks from the shared data directory (raising ``SuiteSkipped`` with the
reason when the data is absent), may give each task its own tools (BFCL: the functions of the
question) and may run the ``agent`` arm its own way (triage: the project's ``triage()``). Every
arm returns a ``RunOutput``: the final text and every tool call it made; the suite's ``check``
decides whether that is right. A suite that needs settings of its own (mixed: ``rag_search`` on
its documents) also has ``settings(base) -> Settings``; ``suite_settings`` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agent import Settings, Tool

ARMS = ("agent", "agent+vote", "bare", "raw", "program")
# agent+vote: the default Agent with answer_program on (a program votes on reasoned answers)


class SuiteSkipped(Exception):
    """The suite cannot run here (its data is absent); the message says why."""


@dataclass
class Task:
    suite: str
    id: str
    question: str
    expected: Any
    tools: list[Tool] | None = None  # None: the agent's default tools
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunOutput:
    answer: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tokens: int = 0
    note: str | None = None  # how the agent reached it: a vote, a correction, a rescue


class Suite(Protocol):
    name: str
    arms: tuple[str, ...]  # the arms that make sense for it (bare cannot call a function)

    def load(self, data: Path, n: int, seed: int) -> list[Task]: ...

    def check(self, task: Task, out: RunOutput) -> bool: ...

    async def run_agent(self, task: Task, settings: Settings) -> RunOutput | None:
        """The agent arm's own run, or None for the default ``Agent``."""
        ...


@runtime_checkable
class HasSettings(Protocol):
    """A suite that runs with settings of its own, derived from the runner's."""

    def settings(self, base: Settings) -> Settings: ...


def suite_settings(suite: Suite, base: Settings) -> Settings:
    """The settings to run ``suite`` with: ``base``, or the suite's ``settings(base)``."""
    return suite.settings(base) if isinstance(suite, HasSettings) else base
