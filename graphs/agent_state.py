"""The agent graph's state (checkpointed) and context (per invocation, never checkpointed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.messages import AnyMessage, SystemMessage
from langgraph.graph.message import add_messages

from agent.events import ApprovalPolicy, ApproveHook
from agent.llm import ChatClient
from agent.loop import OutputSpec, RunProgram, estimate_tokens, final_answer_spec
from agent.settings import Settings, ToolCallMode
from agent.tooling import Sourced, ToolRegistry


class AgentState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    steps: int  # LLM calls in the current run
    repairs: int  # failed tool calls in the current run
    usage: dict[str, int]  # tokens summed over the current run
    answer: str | None  # set by a valid final_answer call, or by a rescue
    repair_tool: NotRequired[str | None]  # the next call must be to this tool (a repair)
    stopped: NotRequired[str | None]  # why tools are off: a budget ran out
    rescued: NotRequired[str | None]  # set when the answer came from a rescue call
    checks: NotRequired[int]  # answers of the current run sent back by the answer check
    tool_calls: NotRequired[int]  # tool calls the current run made (final_answer aside)
    output: NotRequired[Any]  # the answer as the run's output_type, in its JSON form


# What is wrong in an answer's text (each item printable), given the thread's messages.
AnswerCheck = Callable[[str, Sequence[AnyMessage]], Awaitable[Sequence[object]]]
# The excerpts a search tool finds for a question, framed for the model, or None.
Prefetch = Callable[[str], Awaitable[Sourced | None]]


@dataclass(frozen=True, slots=True)
class AgentContext:
    """What a run needs besides its state; passed per invocation, never checkpointed."""

    llm: ChatClient
    tools: ToolRegistry
    settings: Settings
    mode: ToolCallMode
    system_prompt: str
    tool_specs: list[dict[str, Any]]
    stream_tokens: bool = False
    approve: ApproveHook | None = None
    named_choice: bool = False  # the server constrains a call to a named tool
    check_answer: AnswerCheck | None = None
    prefetch: tuple[str, Prefetch] | None = None  # (the search tool's name, its prefetch)
    approval_policy: ApprovalPolicy | None = None
    output: OutputSpec | None = None  # the run's output_type
    history_budget: int | None = None  # tokens of the thread one LLM call may send
    run_program: RunProgram | None = None  # for a program's vote on an answer (answer_program)


# Tokens kept free for what a call adds after the thread (the rescue or output prompt).
_PROMPT_MARGIN = 300


def make_context(
    *,
    llm: ChatClient,
    tools: ToolRegistry,
    settings: Settings,
    mode: ToolCallMode,
    system_prompt: str,
    stream_tokens: bool = False,
    approve: ApproveHook | None = None,
    named_choice: bool = False,
    check_answer: AnswerCheck | None = None,
    prefetch: tuple[str, Prefetch] | None = None,
    approval_policy: ApprovalPolicy | None = None,
    output: OutputSpec | None = None,
    context_budget: int | None = None,
    run_program: RunProgram | None = None,
) -> AgentContext:
    """``context_budget``: tokens one request may hold (the model's context less the reply's
    ``max_tokens``); the system prompt and the tools' schemas take theirs first."""
    # code mode sends no schemas: the model writes programs, recovered as run_python calls
    specs = [] if mode == "code" else tools.openai_specs()
    if mode == "required":
        specs = [*specs, final_answer_spec()]
    history: int | None = None
    if context_budget is not None:
        fixed = estimate_tokens([SystemMessage(system_prompt)], tools=specs) + _PROMPT_MARGIN
        history = max(context_budget - fixed, 0)
    return AgentContext(
        llm,
        tools,
        settings,
        mode,
        system_prompt,
        specs,
        stream_tokens,
        approve,
        named_choice,
        check_answer if settings.answer_checks else None,
        prefetch if settings.auto_retrieve else None,
        approval_policy,
        output,
        history,
        # the program's vote runs programs the model wrote: not where answer_check_programs
        # promises that none is run
        run_program if settings.answer_program and settings.answer_check_programs else None,
    )
