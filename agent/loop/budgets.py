"""The limits a run stops at: its token limit (an error), and the step, repair and
identical-call budgets (the error a rescue falls back on); and the token count they read."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, AnyMessage

from agent.errors import (
    RepairBudgetExceededError,
    RepeatedToolCallError,
    RunError,
    StepBudgetExceededError,
    UsageLimitExceededError,
)
from agent.settings import Settings


def add_usage(so_far: dict[str, int], ai: AIMessage) -> dict[str, int]:
    """``so_far`` plus the token counts of ``ai``'s reply."""
    usage = dict(so_far)
    for key, value in (ai.usage_metadata or {}).items():
        if isinstance(value, int):
            usage[key] = usage.get(key, 0) + value
    return usage


def limit_error(
    usage: dict[str, int], messages: Sequence[AnyMessage], s: Settings
) -> UsageLimitExceededError | None:
    """The error for a run whose tokens reached ``AGENT_MAX_RUN_TOKENS``, else ``None``."""
    used = usage.get("total_tokens", 0)
    if s.max_run_tokens is not None and used >= s.max_run_tokens:
        return UsageLimitExceededError(
            f"the run used {used:,} tokens, its limit is {s.max_run_tokens:,} "
            "(AGENT_MAX_RUN_TOKENS); the thread keeps every step so far",
            limit="max_run_tokens",
            transcript=list(messages),
        )
    return None


def budget_error(
    messages: Sequence[AnyMessage], steps: int, repairs: int, stopped: str | None, s: Settings
) -> RunError | None:
    """The budget a run has spent (``stopped``: why the identical-call guard stopped it)."""
    transcript = list(messages)
    if stopped:
        return RepeatedToolCallError(str(stopped), transcript=transcript)
    if repairs > s.max_repairs:
        return RepairBudgetExceededError(
            f"the model's tool calls failed {repairs} times in this run (repair budget "
            f"AGENT_MAX_REPAIRS={s.max_repairs}); the last errors are in the transcript",
            transcript=transcript,
        )
    if steps >= s.max_steps:
        return StepBudgetExceededError(
            f"no final answer after {steps} LLM calls (AGENT_MAX_STEPS={s.max_steps}); "
            "the model kept calling tools",
            transcript=transcript,
        )
    return None
