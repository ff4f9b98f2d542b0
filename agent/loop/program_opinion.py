"""Second and third opinions: beside the agent's own text answer to a question, the model
is asked, in requests of their own, for a Python program that computes the answer and for a
plain step-by-step reply; where the program's value is not the answer's, the value two of the
three reach wins (``agreement.complete_by_agreement``).

Why: a small code model's prose and its programs go wrong on different questions. On GSM8K
(bench/agent_tasks.py) Qwen2.5-Coder-1.5B's step-by-step answer or its program was right on 29
of 30 questions (seed 11) and 26 of 30 (seed 13), each alone on 22 to 26; neither is better on
every sample, so neither replaces the other. Where the two agreed they were right (43 of 43
over three saved samples, seeds 11, 13 and 17); where they disagree, one more greedy opinion
decides: a reply to the bench's bare prompt, whose reasoning differs from the agent's own (the
agent's prompt speaks of tools). Sampled replies and programs decided worse than that
(bench/RESULTS.md: their plurality was right on 11 of 20 disagreements, the bare reply on 13).

Tool results count: where the turn has them (a search's excerpts, a calculator's value), they
go to both opinions as text before the question, so an answer from documents is voted on too.
Both get the conversation's earlier questions and answers as text (a follow-up such as "now
divide that by 5" needs the earlier result) and no tool schemas: with the agent's tool schemas
in the request the same model's programs printed the right value on 21 of 30 GSM8K questions
instead of 26.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from agent.errors import ToolError
from agent.llm import ChatClient
from agent.loop._recovery import PROGRAM_TOOL, recover_tool_calls
from agent.loop.agreement import Opinion, Plain, Program, answer_value
from agent.loop.final_answer import FINAL_ANSWER
from agent.loop.program_check import RunProgram as RunProgram
from agent.loop.prompts import PLAIN_PROMPT, PROGRAM_PROMPT
from agent.loop.transcript import is_question
from agent.loop.trim import complete_within


def conversation_text(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The thread as the user saw it, questions and text answers with no tool steps, except
    that the last question carries its run's tool results as text before it."""
    last = max((i for i, m in enumerate(messages) if is_question(m)), default=len(messages))
    kept: list[AnyMessage] = []
    for m in messages[:last]:
        if is_question(m):
            kept.append(HumanMessage(m.text))
        elif isinstance(m, AIMessage) and not m.tool_calls and m.text.strip():
            kept.append(AIMessage(m.text))
    if last < len(messages):
        kept.append(HumanMessage(_with_results(messages[last].text, messages[last + 1 :])))
    return kept


def _with_results(question: str, run: Sequence[AnyMessage]) -> str:
    """``question`` after the results of the tool calls in ``run`` that succeeded."""
    calls = {c["id"]: c for m in run if isinstance(m, AIMessage) for c in m.tool_calls}
    shown = []
    for m in run:
        if not isinstance(m, ToolMessage) or m.status == "error":
            continue
        call = calls.get(m.tool_call_id)
        if call is None or call["name"] == FINAL_ANSWER:
            continue
        args = json.dumps(call["args"], ensure_ascii=False)
        shown.append(f"{call['name']} {_clip(args)} returned:\n{m.text}")
    if not shown:
        return question
    results = "\n\n".join(shown)
    return f"Tool results for the question below:\n\n{results}\n\nQuestion: {question}"


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def program_value(
    llm: ChatClient,
    conversation: Sequence[AnyMessage],
    run_program: RunProgram,
    budget: int | None = None,
) -> Opinion | None:
    """The number printed by a program the model writes for the last question of
    ``conversation`` (``conversation_text``), with the program; ``None`` when it writes none,
    the program fails or prints no number."""
    reply = await complete_within(llm, PROGRAM_PROMPT, conversation, (), budget, tools=[])
    found = recover_tool_calls(reply.text, {PROGRAM_TOOL})
    code = found[0]["args"].get("code") if found else None
    if not isinstance(code, str):
        return None
    try:
        printed = await run_program(code)
    except ToolError:  # refused, failed or timed out: no opinion
        return None
    value = answer_value(printed)
    return None if value is None else Opinion(value, reply)


async def plain_reply(
    llm: ChatClient, conversation: Sequence[AnyMessage], budget: int | None = None
) -> AIMessage:
    """The model's reply to the last question of ``conversation`` (``conversation_text``)
    under the plain step-by-step prompt, with no tools."""
    return await complete_within(llm, PLAIN_PROMPT, conversation, (), budget, tools=[])


def second_opinions(
    llm: ChatClient,
    messages: Sequence[AnyMessage],
    run_program: RunProgram,
    budget: int | None = None,
) -> tuple[Program, Plain] | None:
    """The program's and the plain reply's opinions on the last question of ``messages``, to
    be asked for (``complete_by_agreement``'s ``opinions``); ``None`` with no question."""
    if not any(is_question(m) for m in messages):
        return None
    conversation = conversation_text(messages)  # once, for both
    return (
        partial(program_value, llm, conversation, run_program, budget),
        partial(plain_reply, llm, conversation, budget),
    )
