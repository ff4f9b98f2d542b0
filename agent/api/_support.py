"""What ``Agent`` needs besides running the graph: the approval policy it is built with, the
command that resumes a run waiting for decisions, and the thread id on errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.types import Command

from agent.errors import ConfigError, InputError, RunError
from agent.events import Approval, ApprovalPolicy, ToolCallRequest
from agent.settings import Settings
from agent.tooling import ToolRegistry


class tag_thread:  # noqa: N801 - used as a context manager, reads as a statement
    """Attach the thread id to any ``RunError`` leaving the block."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, _t: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, RunError) and exc.thread_id is None:
            exc.thread_id = self.thread_id


def resume_command(
    thread_id: str, pending: list[ToolCallRequest], decisions: Mapping[str, Approval] | None
) -> Command[Any] | None:
    """What resumes the run: the decisions on its pending calls, checked against them."""
    if not pending:
        if decisions:
            raise InputError(f"thread {thread_id!r} has no tool calls waiting for approval")
        return None
    waiting = {r.call_id: r for r in pending}
    shown = ", ".join(f"{r.call_id} ({r.name})" for r in pending)
    if decisions is None:
        raise InputError(
            f"thread {thread_id!r} waits for decisions on tool calls {shown}: pass decisions="
            "{call_id: Approval.approve() | Approval.reject(reason) | Approval.edit(arguments)}"
        )
    unknown = sorted(set(decisions) - set(waiting))
    missing = sorted(set(waiting) - set(decisions))
    if unknown or missing:
        problems = [f"no pending call {c!r}" for c in unknown]
        problems += [f"no decision for {c!r} ({waiting[c].name})" for c in missing]
        raise InputError(f"decisions for thread {thread_id!r}: {'; '.join(problems)}")
    return Command(resume={k: v.to_wire() for k, v in decisions.items()})


def approval_policy(
    tools: ToolRegistry, settings: Settings, policy: ApprovalPolicy | None
) -> ApprovalPolicy | None:
    """The policy ``policy`` and ``AGENT_APPROVE_TOOLS`` make together (a name there that no
    tool has is refused: a typo must not quietly let calls through)."""
    listed = frozenset(settings.approve_tools)
    unknown = sorted(listed - set(tools.names))
    if unknown:
        raise ConfigError(
            f"AGENT_APPROVE_TOOLS names {', '.join(unknown)}, which this agent does not have "
            f"(its tools: {', '.join(tools.names) or 'none'})"
        )
    if not listed:
        return policy

    def combined(request: ToolCallRequest) -> bool:
        return request.name in listed or (policy is not None and policy(request))

    return combined
