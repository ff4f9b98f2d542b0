"""Answer by agreement (self-consistency): beside the greedy reply of a step that ends in an
answer, a few replies are sampled at a temperature, and a numeric answer is the value most of
them reach.

Off by default (``AGENT_ANSWER_SAMPLES=0``): on GSM8K through the agent it replaced 2 of 30
answers, both wrong before and after, while on the bare model's "The answer is N" replies it
fixed 2 of 30 and broke none (bench/RESULTS.md). The vote needs the answer's value, and
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

With a program's opinion (``program_opinion``, ``AGENT_ANSWER_PROGRAM``) nothing is sampled: a
program for the question and a plain step-by-step reply (no tools) are asked for beside the
greedy reply, all three greedy. An answer whose value its program prints stands. Where the two
disagree (or the program fails), the value two of the three reach wins, and where no two agree
the greedy reply stands. So the greedy reply is replaced only where the program and the plain
reply agree against it. (A tie-break for the plain reply instead, tried because the plain
prompt's prose did better than the agent's on one sample, broke 3 right answers and fixed 1 on
the next: bench/RESULTS.md.) The three decode together, so the vote costs tokens more
than time. It replaced an escalating vote of 4 sampled replies and 4 sampled programs: a sample
at a temperature is a worse opinion than a greedy one for a small model, and the samples
started only after the first two disagreed, so they doubled the time.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from langchain_core.messages import AIMessage

from agent.loop._recovery import recover_tool_calls
from agent.loop.budgets import add_usage

Complete = Callable[..., Awaitable[AIMessage]]
R = TypeVar("R")

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


@dataclass(frozen=True)
class Opinion:
    """What a program the model wrote for the question printed (``program_opinion``): the
    number, and the reply the program came in (for its tokens)."""

    value: float
    reply: AIMessage


# A program's opinion on the question; None when the model wrote no program or it printed no
# number.
Program = Callable[[], Awaitable[Opinion | None]]
# The model's plain step-by-step reply to the question (no tools).
Plain = Callable[[], Awaitable[AIMessage]]


def _key(value: float) -> float:
    """Values equal to 9 significant digits vote together (a program's 14.999999999999991
    is 15)."""
    return float(f"{value:.9g}")


def vote(
    greedy: AIMessage,
    samples: Sequence[AIMessage],
    tool_names: Collection[str],
    program: Opinion | None = None,
    *,
    by: Literal["samples", "opinions"] = "samples",
) -> AIMessage:
    """The reply with the value most votes reach: the greedy reply's, the other replies'
    (``samples``, or with ``by="opinions"`` the plain reply) and ``program``'s. A tie goes to
    the greedy reply's value. The winner is the greedy reply, else the first other reply that
    reaches the value; either way with the votes in ``response_metadata["agreement"]`` and
    every reply's usage."""
    mine = _answer(greedy, tool_names)
    if mine is None:
        return greedy
    voters = [(s, v) for s in samples if (v := _answer(s, tool_names)) is not None]
    values = [mine, *(v for _, v in voters)]
    counts = Counter(_key(v) for v in [*values, *([program.value] if program else [])])
    top = max(counts.values())
    best = next(_key(v) for v in values if counts[_key(v)] == top)  # a tie: the greedy one's
    # the program alone never outvotes the greedy reply (a tie keeps it), so a winner other
    # than the greedy reply's value is always another reply's
    chosen = greedy if best == _key(mine) else next(s for s, v in voters if _key(v) == best)
    totals: dict[str, int] = {}
    for reply in (greedy, *samples, *([program.reply] if program else [])):
        totals = add_usage(totals, reply)
    note = {
        "by": by,
        "replies": len(values),
        "values": [_fmt(v) for v in values],
        "program": _fmt(program.value) if program is not None else None,
        "chosen": _fmt(best),
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
    if note.get("by") == "opinions":  # replaced only where the plain reply and program agree
        return (
            f"a plain step-by-step reply and a program both reached {chosen}; the first reply "
            f"said {values[0]}"
        )
    return (
        f"{values.count(chosen)} of {note['replies']} sampled replies reached {chosen}; the "
        f"first reply said {values[0]}"
    )


async def complete_by_agreement(
    complete: Complete,
    *,
    samples: int,
    temperature: float,
    tool_names: Collection[str],
    on_token: Callable[[str], None] | None = None,
    on_replaced: Callable[[str], None] | None = None,
    opinions: tuple[Program, Plain] | None = None,
    **kwargs: Any,
) -> AIMessage:
    """``complete(**kwargs)`` (the greedy reply, streamed to ``on_token``) with ``samples``
    more replies at ``temperature`` beside it, or with ``opinions`` (a program's and a plain
    reply's, ``program_opinion.second_opinions``) the vote of three greedy opinions; see the
    module's docstring. ``on_replaced`` gets what ``RunResult.agreed`` will say when the vote
    replaces the greedy reply."""
    if opinions is not None:
        return await _complete_with_opinions(
            complete,
            *opinions,
            tool_names=tool_names,
            on_token=on_token,
            on_replaced=on_replaced,
            **kwargs,
        )
    tasks: list[asyncio.Task[AIMessage]] = []
    first_text: list[float] = []

    def start(text: str) -> None:
        if not first_text:
            first_text.append(time.monotonic())
            for seed in range(1, samples + 1):
                sample = complete(temperature=temperature, seed=seed, **kwargs)
                tasks.append(asyncio.ensure_future(sample))
        if on_token is not None:
            on_token(text)

    try:
        greedy = await complete(on_token=start, **kwargs)
    except BaseException:
        await _cancel(tasks)
        raise
    if not tasks or _answer(greedy, tool_names) is None:
        await _cancel(tasks)
        return greedy
    grace = max(_MIN_GRACE_S, _GRACE_FACTOR * (time.monotonic() - first_text[0]))
    replies = await _done_within(tasks, grace)
    return _announced(vote(greedy, replies, tool_names), on_replaced)


async def _complete_with_opinions(
    complete: Complete,
    program: Program,
    plain: Plain,
    *,
    tool_names: Collection[str],
    on_token: Callable[[str], None] | None = None,
    on_replaced: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> AIMessage:
    """``complete(**kwargs)`` (the greedy reply, streamed to ``on_token``) with ``program()``
    and ``plain()`` started beside it at its first text token; where the program's value is
    not the reply's, the plain reply votes too. Each opinion waits, in turn, at most the
    greedy reply's time again (at least ``_MIN_GRACE_S``) after it, or does not vote."""
    opinion: list[asyncio.Task[Opinion | None]] = []
    third: list[asyncio.Task[AIMessage]] = []

    def start(text: str) -> None:
        if not opinion:
            opinion.append(asyncio.ensure_future(program()))
            third.append(asyncio.ensure_future(plain()))
        if on_token is not None:
            on_token(text)

    started = time.monotonic()
    try:
        greedy = await complete(on_token=start, **kwargs)
    except BaseException:
        await _cancel([*opinion, *third])
        raise
    mine = _answer(greedy, tool_names)
    if not opinion or mine is None:
        await _cancel([*opinion, *third])
        return greedy
    took = max(_MIN_GRACE_S, time.monotonic() - started)
    done = await _done_within(opinion, took)
    first = done[0] if done else None
    if first is not None and _key(first.value) == _key(mine):
        await _cancel(third)
        return vote(greedy, [], tool_names, first, by="opinions")
    replies = await _done_within(third, took)
    return _announced(vote(greedy, replies, tool_names, first, by="opinions"), on_replaced)


def _announced(chosen: AIMessage, on_replaced: Callable[[str], None] | None) -> AIMessage:
    note = chosen.response_metadata.get(AGREEMENT)
    if on_replaced is not None and note and note["replaced"]:
        on_replaced(describe_agreement(note))
    return chosen


async def _done_within(tasks: Sequence[asyncio.Future[R]], within_s: float) -> list[R]:
    """The results of ``tasks`` done within ``within_s`` seconds, in their order; the rest
    cancelled, failures left out."""
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=within_s)
    await _cancel(list(pending))
    return [t.result() for t in tasks if t in done and t.exception() is None]


async def _cancel(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel the samples still running (closing their requests aborts them on vLLM)."""
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
