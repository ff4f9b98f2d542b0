"""A second opinion from a program: beside the agent's own answer to a question it reasoned out
in text, the model is asked, in a request of its own, for a Python program that computes the
answer; what the program prints votes with the answer, and where the two disagree, with sampled
replies and programs (``agreement.complete_by_agreement``).

Why: a small code model's prose and its programs go wrong on different questions. On GSM8K
(bench/agent_tasks.py) Qwen2.5-Coder-1.5B's step-by-step answer or its program was right on 29
of 30 questions (seed 11) and 26 of 30 (seed 13), each alone on 22 to 26; neither is better on
every sample, so neither replaces the other: where they disagree, sampled replies and
programs vote.

Only for a turn the model reasons out alone: when the turn has tool results (a search's
excerpts, a calculator's value), the program would not see them, so it gets no vote. The
program gets the conversation's questions and answers as text (a follow-up such as "now divide
that by 5" needs the earlier result) and no tool schemas: with the agent's tool schemas in the
request the same model's programs printed the right value on 21 of 30 questions instead of 26.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from agent.errors import ToolError
from agent.llm import ChatClient
from agent.loop._recovery import PROGRAM_TOOL, recover_tool_calls
from agent.loop.agreement import Opinion, answer_value
from agent.loop.program_check import RunProgram as RunProgram
from agent.loop.prompts import PROGRAM_PROMPT
from agent.loop.transcript import current_run, is_question
from agent.loop.trim import complete_within


def reasoned_alone(messages: Sequence[AnyMessage]) -> bool:
    """Whether the turn in progress is a question with no tool result after it yet."""
    return bool(messages) and not any(isinstance(m, ToolMessage) for m in current_run(messages))


def conversation_text(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The thread as the user saw it: questions and text answers, no tool steps."""
    kept: list[AnyMessage] = []
    for m in messages:
        if is_question(m):
            kept.append(HumanMessage(m.text))
        elif isinstance(m, AIMessage) and not m.tool_calls and m.text.strip():
            kept.append(AIMessage(m.text))
    return kept


async def program_value(
    llm: ChatClient,
    messages: Sequence[AnyMessage],
    run_program: RunProgram,
    budget: int | None = None,
    **sampling: Any,
) -> Opinion | None:
    """The number printed by a program the model writes for the last question of
    ``messages`` (``sampling``: the temperature and seed of a sampled one), with the program;
    ``None`` when it writes none, the program fails or prints no number."""
    reply = await complete_within(
        llm, PROGRAM_PROMPT, conversation_text(messages), (), budget, tools=[], **sampling
    )
    found = recover_tool_calls(reply.text, {PROGRAM_TOOL})
    code = found[0]["args"].get("code") if found else None
    if not isinstance(code, str):
        return None
    try:
        printed = await run_program(code)
    except ToolError:  # refused, failed or timed out: no opinion
        return None
    value = answer_value(printed)
    return None if value is None else Opinion(value, code, reply)
