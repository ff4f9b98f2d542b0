"""Long threads: what of a thread one LLM call sends, when all of it no longer fits.

The thread keeps every message; only the request leaves some out. Whole earlier turns go first
(oldest first), so what is sent still starts at a question; if the current turn alone is too
long, its oldest tool steps go, each tool call with its results (a call without its result,
or a result without its call, is an error on every OpenAI-compatible server). The question of
the current turn always stays. Tokens are estimated from characters (3 a token, on the safe
side of what Qwen's and Llama's tokenizers give for English, code and numbers); where the
server still refuses a request as over its context, ``complete_within`` sends less.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

from agent.errors import LLMResponseError
from agent.llm import ChatClient
from agent.loop.transcript import is_question

CHARS_PER_TOKEN = 3.0


@dataclass(frozen=True, slots=True)
class Fitted:
    messages: list[AnyMessage]
    left_out: int  # messages of the thread not sent


def estimate_tokens(messages: Sequence[Any], tools: Sequence[dict[str, Any]] = ()) -> int:
    return count_tokens_approximately(
        messages,
        chars_per_token=CHARS_PER_TOKEN,
        extra_tokens_per_message=4.0,
        tools=list(tools) or None,
    )


def _blocks(messages: Sequence[AnyMessage]) -> list[list[AnyMessage]]:
    """Units that are sent whole: an AI message with its calls' results, or one message."""
    blocks: list[list[AnyMessage]] = []
    for m in messages:
        if isinstance(m, ToolMessage) and blocks and _answers(blocks[-1], m):
            blocks[-1].append(m)
        else:
            blocks.append([m])
    return blocks


def _answers(block: list[AnyMessage], result: ToolMessage) -> bool:
    head = block[0]
    return isinstance(head, AIMessage) and any(
        c["id"] == result.tool_call_id for c in [*head.tool_calls, *head.invalid_tool_calls]
    )


def fit_messages(messages: Sequence[AnyMessage], budget: int | None) -> Fitted:
    """The most recent messages that fit ``budget`` tokens (``None``: all of them)."""
    if budget is None:
        return Fitted(list(messages), 0)
    sizes = [estimate_tokens([m]) for m in messages]
    if sum(sizes) <= budget:
        return Fitted(list(messages), 0)
    size_of = {id(m): s for m, s in zip(messages, sizes, strict=True)}
    start = next((i for i in range(len(messages) - 1, -1, -1) if is_question(messages[i])), 0)
    earlier, current = _blocks(messages[:start]), _blocks(messages[start:])

    def cost(block: list[AnyMessage]) -> int:
        return sum(size_of[id(m)] for m in block)

    # the current turn: its question, then its newest blocks that fit
    head, rest = current[0], current[1:]
    room = budget - cost(head)
    kept: list[list[AnyMessage]] = []
    for block in reversed(rest):
        if cost(block) > room:
            break
        kept.insert(0, block)
        room -= cost(block)
    sent = [head, *kept]
    # earlier turns, newest first, each whole
    if len(kept) == len(rest):
        turns: list[list[list[AnyMessage]]] = []
        for block in earlier:
            if not turns or is_question(block[0]):
                turns.append([])
            turns[-1].append(block)
        for turn in reversed(turns):
            size = sum(cost(b) for b in turn)
            if size > room:
                break
            sent = [*turn, *sent]
            room -= size
    out = [m for block in sent for m in block]
    return Fitted(out, len(messages) - len(out))


# The server refused a request as longer than the model's context (vLLM: "This model's maximum
# context length is N tokens..."; others say "context length" or "context window" too).
_OVERFLOW = re.compile(r"context (length|window)", re.IGNORECASE)


async def complete_within(
    llm: ChatClient,
    system_prompt: str,
    messages: Sequence[AnyMessage],
    extra: Sequence[BaseMessage],
    budget: int | None,
    **kwargs: Any,
) -> AIMessage:
    """One LLM call on ``system_prompt``, what of ``messages`` fits ``budget`` tokens, then
    ``extra``. The budget is an estimate; where the server still finds the request too long
    (text with more tokens per character, such as Chinese, or a server that does not report
    its context), the call is made again with half the thread it sent, twice at most."""
    for _ in range(2):
        fitted = fit_messages(messages, budget)
        try:
            return await llm.complete(_request(system_prompt, fitted, extra), **kwargs)
        except LLMResponseError as exc:
            if exc.status_code != 400 or not _OVERFLOW.search(str(exc)):
                raise
        budget = estimate_tokens(fitted.messages) // 2
    fitted = fit_messages(messages, budget)
    return await llm.complete(_request(system_prompt, fitted, extra), **kwargs)


def _request(system_prompt: str, fitted: Fitted, extra: Sequence[BaseMessage]) -> list[Any]:
    note = left_out_note(fitted.left_out) if fitted.left_out else ""
    return [SystemMessage(system_prompt + note), *fitted.messages, *extra]


def left_out_note(count: int) -> str:
    return (
        f"\n\n({count} earlier messages of this conversation are not shown: they do not fit "
        "the model's context.)"
    )
