"""Answer by agreement (self-consistency): beside the greedy reply of a step that ends in an
answer, a few replies are sampled at a temperature, and a numeric answer is the value most of
them reach.

Off by default (``AGENT_ANSWER_SAMPLES=0``): on GSM8K through the agent it replaced 2 of 30
answers, both wrong before and after, while on the bare model's "The answer is N" replies it
fixed 2 of 30 and broke none (README, "Task success"). The vote needs the answer's value, and
the last number of a free-form answer is often not it.

Why it can be worth its tokens on the servers this runtime is for: decoding on vLLM is bound by
memory bandwidth at small batch sizes, so replies decoded together cost little more wall time
than one (measured on 2 CPU cores with Qwen2.5-Coder-1.5B: 5 replies at once ~36 tokens/s in
all against ~7 for one). A small model's reasoning goes astray on some of its paths, not on
most of them, so the most common final value is more often right than the greedy one alone
(the measurement above).

How: the samples start when the greedy reply's first text token arrives (the prompt is then
in vLLM's prefix cache, so they do not prefill it again, and a reply that is a tool call never
starts them). When the greedy reply is a tool call, or an answer with no number in it, the
samples are cancelled and the step goes on as it would without them. Otherwise they get a
grace period after the greedy reply (half its time, at least 2 s); those done by then vote,
the greedy reply's value included, and an answer replaces the greedy one only when strictly
more replies reach its value. Samples that call a tool do not vote.

With a program's opinion (``program_opinion``, ``AGENT_ANSWER_PROGRAM``), the value a program
the model writes prints is one more vote, started with the samples: an answer the program and
the greedy reply agree on stands; where they differ, the samples decide.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from langchain_core.messages import AIMessage

from agent.loop._recovery import recover_tool_calls
from agent.loop.budgets import add_usage

Complete = Callable[..., Awaitable[AIMessage]]

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_MARKED = re.compile(r"(?:answer is|answer:)([^\n]*)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_MIN_GRACE_S = 2.0
_GRACE_FACTOR = 0.5
AGREEMENT = "agreement"  # the key in an answer's response_metadata


def answer_value(text: str) -> float | None:
    """The number an answer gives as its answer: the first number on its last "The answer is
    ..." (or "Answer: ...") line with a number on it ("The answer is 2125 gallons for the
    400-mile trip." -> 2125; "This answer is based on the documents." does not count), else
    the last one in its last ``\\boxed{}``, else the last one in the text ("... so she pays
    $1,234.50." -> 1234.5); ``None`` without a number."""
    marked = [m for m in _MARKED.findall(text) if _NUMBER.search(m.replace("$", ""))]
    boxed = _BOXED.findall(text)
    for part, pick in ((marked[-1:], 0), (boxed[-1:], -1), ([text], -1)):
        found = _NUMBER.findall("".join(part).replace("$", ""))
        if found:
            return parse_number(found[pick])
    return None


def parse_number(written: str) -> float | None:
    """``written`` (a number as text, thousands commas allowed) as a float, or None."""
    try:
        return float(written.replace(",", ""))
    except ValueError:
        return None


def _answer(ai: AIMessage, tool_names: Collection[str]) -> float | None:
    """The value of a reply that is a text answer; ``None`` for a tool call (parsed, or
    written in the text) and for an answer without a number."""
    if ai.tool_calls or ai.invalid_tool_calls or not isinstance(ai.content, str):
        return None
    if recover_tool_calls(ai.content, set(tool_names)):
        return None
    return answer_value(ai.content)


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else str(value)


def vote(
    greedy: AIMessage,
    samples: list[AIMessage],
    tool_names: Collection[str],
    program: float | None = None,
) -> AIMessage:
    """The greedy reply, or the first sample whose value strictly more votes reach (the
    replies', and ``program``, a program's printed value, when there is one); either way with
    the votes in ``response_metadata["agreement"]`` and every reply's usage."""
    mine = _answer(greedy, tool_names)
    if mine is None:
        return greedy
    voters = [(s, v) for s in samples if (v := _answer(s, tool_names)) is not None]
    values = [mine, *(v for _, v in voters)]
    counts = Counter([*values, *([program] if program is not None else [])])
    best, top = counts.most_common(1)[0]
    chosen = greedy
    if top > counts[mine]:  # a sample reaches it: the program is one vote of two or more
        chosen = next((s for s, v in voters if v == best), greedy)
    totals: dict[str, int] = {}
    for reply in (greedy, *samples):
        totals = add_usage(totals, reply)
    note = {
        "replies": len(values),
        "values": [_fmt(v) for v in values],
        "program": _fmt(program) if program is not None else None,
        "chosen": _fmt(best if chosen is not greedy else mine),
        "replaced": chosen is not greedy,
    }
    metadata = {**chosen.response_metadata, AGREEMENT: note}
    return chosen.model_copy(
        update={"response_metadata": metadata, "usage_metadata": totals or None}
    )


def describe_agreement(note: dict[str, Any]) -> str:
    """What ``RunResult.agreed`` says about a replaced answer."""
    values: list[str] = note["values"]
    chosen = note["chosen"]
    program = note.get("program")
    by_program = " and a program" if program == chosen else ""
    return (
        f"{values.count(chosen)} of {note['replies']} sampled replies{by_program} reached "
        f"{chosen}; the first reply said {values[0]}"
    )


async def complete_by_agreement(
    complete: Complete,
    *,
    samples: int,
    temperature: float,
    tool_names: Collection[str],
    on_token: Callable[[str], None] | None = None,
    on_replaced: Callable[[str], None] | None = None,
    program: Callable[[], Awaitable[float | None]] | None = None,
    **kwargs: Any,
) -> AIMessage:
    """``complete(**kwargs)`` (the greedy reply, streamed to ``on_token``) with ``samples``
    more replies at ``temperature`` beside it, and ``program()`` (a program's printed value,
    ``program_opinion``) when given; see the module's docstring. ``on_replaced`` gets what
    ``RunResult.agreed`` will say when the vote replaces the greedy reply."""
    tasks: list[asyncio.Task[AIMessage]] = []
    opinion: list[asyncio.Task[float | None]] = []
    first_text: list[float] = []

    def start(text: str) -> None:
        if not first_text:
            first_text.append(time.monotonic())
            if program is not None:
                opinion.append(asyncio.ensure_future(program()))
            for seed in range(1, samples + 1):
                sample = complete(temperature=temperature, seed=seed, **kwargs)
                tasks.append(asyncio.ensure_future(sample))
        if on_token is not None:
            on_token(text)

    try:
        greedy = await complete(on_token=start, **kwargs)
    except BaseException:
        await _cancel([*tasks, *opinion])
        raise
    if not tasks or _answer(greedy, tool_names) is None:
        await _cancel([*tasks, *opinion])
        return greedy
    grace = max(_MIN_GRACE_S, _GRACE_FACTOR * (time.monotonic() - first_text[0]))
    done, pending = await asyncio.wait([*tasks, *opinion], timeout=grace)
    await _cancel(list(pending))
    replies = [t.result() for t in tasks if t in done and t.exception() is None]  # seed order
    value = next((t.result() for t in opinion if t in done and t.exception() is None), None)
    chosen = vote(greedy, replies, tool_names, value)
    note = chosen.response_metadata.get(AGREEMENT)
    if on_replaced is not None and note and note["replaced"]:
        on_replaced(describe_agreement(note))
    return chosen


async def _cancel(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel the samples still running (closing their requests aborts them on vLLM)."""
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
