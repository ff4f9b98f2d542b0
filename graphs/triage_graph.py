"""Error triage as a LangGraph state machine: reduce, look up, explain in one LLM call::

    START -> reduce -> lookup -> (explain | fallback | END)   no LLM in reduce or lookup
             explain -> (END | explain | fallback)   one structured call; one retry at most
             fallback -> END                         the top entry's own cause and fix

``explain`` asks for a JSON object (``cause``, ``fix``, ``cited``, ``confidence``) decoded with
the server's structured outputs (``response_format: json_schema``): ``cited`` is an enum of the
retrieved entries' numbers (mapped back to ids: an id costs a small model ~10 tokens, a number
one), so the server cannot cite an entry the lookup did not return. ``cause`` and ``fix`` are
each a sentence or an entry's number: where an entry's own text is right for the input, the
model names it instead of retyping it (``from_kb`` says so), which on a CPU, decoding a few
tokens a second, is most of a triage's time (bench/RESULTS.md, "Triage: quoting the KB"). A
reply that is not valid JSON, has a blank cause or fix, or cites an id outside the candidates
(a server without structured outputs) is sent back once with the problem named (one entry's
cause quoted with another's fix becomes that entry's cause and fix); a second failure, or an
LLM that cannot be reached, ends in ``fallback``: the best match's KB cause and fix, marked as
such. The model reads only the matches that are evidence by themselves
(``agent.known_errors.is_close``) when there is one, and is not asked at all when every one
of them is an imported template with no cause or fix yet (tagged ``undocumented``): that too
ends in ``fallback``, whose text then says the entry is not documented. The model never calls
tools here, so the triage cannot loop on ``lookup_error``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from agent.errors import AgentError
from agent.known_errors import (
    UNDOCUMENTED_TAG,
    ErrorIndex,
    ErrorMatch,
    ReducedLog,
    is_close,
    reduce_log,
)
from agent.llm import LLMClient
from agent.text import clip

Confidence = Literal["high", "medium", "low"]
MAX_ATTEMPTS = 2  # the first explanation and one constrained retry
EXPLAIN_MAX_TOKENS = 320
# Bounds the server decodes to: a small model otherwise copies whole KB texts into the reply
# and runs into the token limit (measured: 2 x 320 tokens, 105 s, then the fallback).
ANSWER_MAX_CHARS = 200
CUT_SLACK = 24  # a text this close to the cap without a full stop was cut (seen: 191 chars)
LOG_PROMPT_CHARS = 1500
ENTRY_TEXT_CHARS = 300
CONTENTION = 0.5  # matches below half the best score are left out of the explain prompt
# Traces are ranked by the trace signal alone, so their fused scores are rank-based near-ties
# (3/61, 3/62, ...) and say nothing of how close a runner-up is: its trace score does.
TRACE_CONTENTION = 0.8

EXPLAIN_SYSTEM = (
    "You explain an error from a log or stack trace with a knowledge base (KB) of known errors. "
    "You get the log and the KB entries a search found for it, best match first. Decide which "
    "entries describe this error. Give the cause (why it happens here) and the fix (what to "
    "do). Where an entry's cause or fix is right for this log as written, give that entry's "
    "number instead of its text; write a sentence of at most 25 words only for what the "
    "entries do not say. In `cited` give the numbers of the entries you used, only those that "
    "describe this error. If no entry fits, cite none, explain from the log alone and give "
    "low confidence. Reply with the JSON object only."
)


class Explanation(BaseModel):
    """The explain step's structured output."""

    model_config = ConfigDict(extra="forbid")

    cause: str
    fix: str
    cited: list[str]  # KB ids; on the wire the entries' numbers in the prompt (fewer tokens)
    confidence: Confidence
    # "cause"/"fix" -> the id of the entry whose own text the model chose, by its number
    from_kb: dict[Literal["cause", "fix"], str] = {}

    @field_validator("cause", "fix")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank")
        return whole_sentences(value.strip())


def whole_sentences(text: str) -> str:
    """``text`` without a sentence the length cap cut off: up to its last full stop when that
    keeps most of it, else marked as cut with an ellipsis."""
    # the server stops a string at the last whole token that fits: up to a long token short
    if len(text) < ANSWER_MAX_CHARS - CUT_SLACK or text.endswith((".", "!", "?")):
        return text
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    if end >= len(text) // 2:
        return text[: end + 1]
    return text.rstrip(" ,;:") + "…"


def explanation_schema(candidate_ids: list[str]) -> dict[str, Any]:
    """The JSON schema the server decodes to: ``cited`` can only hold the entries' numbers, and
    ``cause`` and ``fix`` are a sentence or the number of an entry whose own text applies."""
    numbers = list(range(1, len(candidate_ids) + 1))
    text_or_entry = {
        "anyOf": [
            {"type": "string", "maxLength": ANSWER_MAX_CHARS},
            {"type": "integer", "enum": numbers},
        ]
    }
    return {
        "type": "object",
        "properties": {
            "cause": text_or_entry,
            "fix": text_or_entry,
            "cited": {
                "type": "array",
                "items": {"type": "integer", "enum": numbers},
                "maxItems": len(candidate_ids),
            },
            "confidence": {"type": "string", "enum": ["high", "medium", "low"]},
        },
        "required": ["cause", "fix", "cited", "confidence"],
        "additionalProperties": False,
    }


def _add(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    return {**total, **{k: total.get(k, 0) + v for k, v in more.items()}}


class TriageState(TypedDict):
    log: str
    top_k: int
    explain: bool  # False: reduce and lookup only
    reduced: NotRequired[ReducedLog]
    matches: NotRequired[list[ErrorMatch]]
    evidence: NotRequired[list[str]]  # the matches that are evidence by themselves (is_close);
    # none: the matches are only the nearest entries
    candidates: NotRequired[list[ErrorMatch]]  # what the model reads (``lookup_node``)
    messages: NotRequired[list[BaseMessage]]  # the explain conversation so far
    attempts: NotRequired[int]
    explanation: NotRequired[Explanation | None]
    fallback: NotRequired[bool]
    llm_error: NotRequired[str | None]
    # per-node deltas summed by the graph: a retry adds its tokens and time to the first call's
    usage: Annotated[dict[str, int], _add]
    timings_ms: Annotated[dict[str, float], _add]


@dataclass(frozen=True, slots=True)
class TriageContext:
    index: ErrorIndex
    llm: LLMClient | None  # None when ``explain`` is off
    min_similarity: float  # AGENT_TRIAGE_MIN_SIMILARITY: see ``is_close``
    min_trace_share: float  # AGENT_TRIAGE_MIN_TRACE_SHARE: see ``is_close``


def _ms(started: float) -> float:
    return round(1000 * (time.perf_counter() - started), 1)


def in_contention(matches: list[ErrorMatch]) -> list[ErrorMatch]:
    """The matches worth the model's reading: within ``CONTENTION`` of the best fused score,
    and, when the best was found by its stack trace, within ``TRACE_CONTENTION`` of its trace
    score. A far weaker runner-up (the best matched by its signature, the rest by loose word
    overlap; another bug's trace sharing the test runner's frames) only tempts a small model to
    explain the wrong entry, and costs prompt time. On the Defects4J dev split the trace floor
    shows the model the right entry alone for 215 of the 319 traces whose entry ranks first
    (against none), and leaves out 28 of the 68 whose entry ranks 2nd to 5th."""
    if not matches:
        return []
    floor = CONTENTION * matches[0].score
    kept = [m for m in matches if m.score >= floor]
    best_trace = matches[0].signals.get("trace")
    if best_trace is None or best_trace.score <= 0:
        return kept
    trace_floor = TRACE_CONTENTION * best_trace.score
    return [
        m
        for m in kept
        if "signature" in m.signals
        or ((hit := m.signals.get("trace")) is not None and hit.score >= trace_floor)
    ]


def candidates_prompt(log_text: str, matches: list[ErrorMatch]) -> str:
    lines = [f"Log:\n```\n{clip(log_text, LOG_PROMPT_CHARS)}\n```", "", "KB entries found:"]
    for rank, m in enumerate(matches, start=1):
        lines.append(f"{rank}. id: {m.id}")
        lines.append(f"   title: {clip(m.title, 200)}")
        evidence = ", ".join(m.matched_by)
        if m.matched_text:
            evidence += f" (matched: {clip(m.matched_text, 160)})"
        lines.append(f"   matched by: {evidence}")
        lines.append(f"   cause: {clip(m.entry.cause, ENTRY_TEXT_CHARS)}")
        lines.append(f"   fix: {clip(m.entry.fix, ENTRY_TEXT_CHARS)}")
    return "\n".join(lines)


def _entry_number(value: object, count: int) -> int | None:
    """``value`` as the number of one of ``count`` listed entries, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= count:
        return value
    return None


def check_reply(text: str, candidates: list[ErrorMatch]) -> tuple[Explanation | None, str | None]:
    """(explanation, None), or (None, what is wrong with the reply, to send back). Entry
    numbers become ids in ``cited``, and the entry's own text in ``cause`` and ``fix``."""
    ids = [m.id for m in candidates]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"it is not valid JSON ({exc.msg} at character {exc.pos})"
    quoted: dict[Literal["cause", "fix"], ErrorMatch] = {}
    unused: str | None = None
    if isinstance(data, dict):
        cited = data.get("cited")
        if isinstance(cited, list):
            # entry numbers (what the schema asks for) become ids; an id as such is taken too
            data["cited"] = [
                ids[n - 1] if (n := _entry_number(c, len(ids))) else str(c) for c in cited
            ]
        for field in ("cause", "fix"):
            if n := _entry_number(data.get(field), len(ids)):
                quoted[field] = candidates[n - 1]
        if len({m.id for m in quoted.values()}) > 1:
            # one known error's cause with another's fix: the cause says which error it is, so
            # its fix follows, and the other entry is no longer used. Sent back instead (an
            # earlier version), the model quoted and cited the cause's entry alone every time
            # (13 of 13; bench/RESULTS.md, "Triage: quoting the KB").
            unused = quoted["fix"].id
            quoted["fix"] = quoted["cause"]
        for field, match in quoted.items():
            data[field] = getattr(match.entry, field)
        data["from_kb"] = {}
    try:
        explanation = Explanation.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'the object'}: {e['msg']}"
            for e in exc.errors()
        )
        return None, f"it does not match the schema ({problems})"
    unknown = [c for c in explanation.cited if c not in ids]
    if unknown:
        return None, (
            f"it cites {', '.join(unknown)}, which the search did not return; cite only the "
            f"numbers 1 to {len(ids)} of the entries listed"
        )
    for field, match in quoted.items():
        # the entry's text as the KB holds it: not cut to the length asked of a written one
        setattr(explanation, field, getattr(match.entry, field).strip())
        explanation.from_kb[field] = match.id
    # an entry whose text the explanation quotes is one it used
    used = [c for c in explanation.cited if c != unused]
    explanation.cited = list(dict.fromkeys([*used, *explanation.from_kb.values()]))
    return explanation, None


async def reduce_node(state: TriageState) -> dict[str, Any]:
    started = time.perf_counter()
    reduced = reduce_log(state["log"])
    return {"reduced": reduced, "timings_ms": {"reduce": _ms(started)}}


async def lookup_node(state: TriageState, runtime: Runtime[TriageContext]) -> dict[str, Any]:
    started = time.perf_counter()
    ctx = runtime.context
    matches = await ctx.index.alookup(state["log"], top_k=state["top_k"])
    evidence = [m.id for m in matches if is_close(m, ctx.min_similarity, ctx.min_trace_share)]
    contention = in_contention(matches)
    # only entries with evidence of their own: beside a signature match, a trace that shares
    # just Python's own frames with the input would read to the model as a second candidate
    candidates = [m for m in contention if m.id in evidence] or contention
    return {
        "matches": matches,
        "evidence": evidence,
        "candidates": candidates,
        "timings_ms": {"lookup": _ms(started)},
    }


async def explain_node(state: TriageState, runtime: Runtime[TriageContext]) -> dict[str, Any]:
    llm = runtime.context.llm
    assert llm is not None, "explain runs only with an LLM"
    started = time.perf_counter()
    matches = state.get("candidates") or []
    messages = state.get("messages") or [
        SystemMessage(EXPLAIN_SYSTEM),
        HumanMessage(candidates_prompt(state["reduced"].brief, matches)),
    ]
    attempts = state.get("attempts", 0) + 1
    try:
        ai = await llm.complete(
            messages,
            tools=[],
            max_tokens=EXPLAIN_MAX_TOKENS,
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "triage",
                    "schema": explanation_schema([m.id for m in matches]),
                    "strict": True,
                },
            },
        )
    except AgentError as exc:
        return {
            "attempts": attempts,
            "llm_error": str(exc),
            "timings_ms": {"explain": _ms(started)},
        }
    explanation, problem = check_reply(ai.text, matches)
    if problem and ai.response_metadata.get("finish_reason") == "length":
        problem += "; the reply was cut off at the token limit: keep cause and fix short"
    update: dict[str, Any] = {
        "attempts": attempts,
        "explanation": explanation,
        "usage": {k: v for k, v in (ai.usage_metadata or {}).items() if isinstance(v, int)},
        "timings_ms": {"explain": _ms(started)},
    }
    if problem:
        update["messages"] = [
            *messages,
            AIMessage(ai.text),
            HumanMessage(
                f"That reply cannot be used: {problem}. Reply again with the JSON object only."
            ),
        ]
    return update


async def fallback_node(state: TriageState) -> dict[str, Any]:
    """No usable explanation, or nothing for a model to explain from (the entries are imported
    templates with no cause or fix yet): the best candidate's own cause and fix, marked as a
    fallback."""
    top = (state.get("candidates") or state["matches"])[0]  # the lookup found something
    return {
        "fallback": True,
        "explanation": Explanation(
            cause=top.entry.cause,
            fix=top.entry.fix,
            cited=[top.id],
            confidence="low",
            from_kb={"cause": top.id, "fix": top.id},
        ),
    }


def _after_lookup(state: TriageState) -> str:
    # nothing retrieved (an empty KB), or only the nearest entries: nothing to explain from
    if not state["explain"] or not state.get("evidence"):
        return END
    # entries that say only "not documented yet": a model would restate that, ~10 s on a CPU
    undocumented = all(UNDOCUMENTED_TAG in m.entry.tags for m in state.get("candidates") or [])
    return "fallback" if undocumented else "explain"


def _after_explain(state: TriageState) -> str:
    if state.get("explanation") is not None:
        return END
    if state.get("llm_error") or state.get("attempts", 0) >= MAX_ATTEMPTS:
        return "fallback"
    return "explain"


def build_triage_graph() -> CompiledStateGraph[TriageState, TriageContext, Any, Any]:
    builder = StateGraph(TriageState, context_schema=TriageContext)
    builder.add_node("reduce", reduce_node)
    builder.add_node("lookup", lookup_node)
    builder.add_node("explain", explain_node)
    builder.add_node("fallback", fallback_node)
    builder.add_edge(START, "reduce")
    builder.add_edge("reduce", "lookup")
    builder.add_conditional_edges("lookup", _after_lookup, ["explain", "fallback", END])
    builder.add_conditional_edges("explain", _after_explain, ["explain", "fallback", END])
    builder.add_edge("fallback", END)
    return builder.compile()


__all__ = [
    "EXPLAIN_SYSTEM",
    "Explanation",
    "TriageContext",
    "TriageState",
    "build_triage_graph",
    "check_reply",
    "explanation_schema",
]
