"""Error triage: the known errors in a log or stack trace, and their cause, fix and citations.

``triage(TriageRequest(log=...))`` is the one implementation; ``agent triage`` (CLI), the MCP
``triage`` tool and Python callers all call it and get the same ``TriageReport``::

    report = asyncio.run(triage(TriageRequest(log=text)))

It runs ``graphs.triage_graph``: reduce the input to its informative lines and look up the
known errors (no LLM), then exactly one LLM call with structured output explains the cause and
the fix and cites ids among those retrieved (one constrained retry if the reply is unusable).
When there is no usable explanation, or the LLM cannot be reached (``llm_error``), the report
carries the best match's own KB cause and fix with ``fallback`` set, so a result always exists.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.known_errors import (
    MAX_TEXT_CHARS,
    ErrorIndex,
    LookupResult,
    MatchSummary,
)
from agent.known_errors.traces import parse_trace
from agent.llm import LLMClient
from agent.settings import Settings
from graphs.triage_graph import Confidence, TriageContext, build_triage_graph

__all__ = ["NO_MATCH", "Citation", "TriageReport", "TriageRequest", "parse_answer", "triage"]

_CITATION = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9_.:-]*)\]")
_HEAD = r"^[ \t]*[*_#]*[ \t]*(?:{names})[ \t]*[*_]*[ \t]*:[ \t]*[*_]*"
_SECTION = re.compile(
    _HEAD.format(names="(cause|fix|known errors)")
    + r"[ \t]*(.*?)(?="
    + _HEAD.format(names="cause|fix|known errors")
    + r"|\Z)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)


NO_MATCH = (
    "No known error matches this input: nothing matched its signature or stack trace, and no "
    "entry is close in meaning. The nearest entries are listed, but they are not its cause."
)


class TriageRequest(BaseModel):
    """What to triage: the input of ``triage()``, ``agent triage`` and the MCP ``triage`` tool."""

    model_config = ConfigDict(extra="forbid")

    log: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="The log, stack trace or error message to triage",
    )
    top_k: int = Field(default=3, ge=1, le=20, description="How many known errors to return (1-20)")
    llm: bool = Field(
        default=True,
        description="Explain the cause and fix with the LLM; false: only the known-error lookup",
    )

    @field_validator("log", mode="before")  # before min_length, whose message says less
    @classmethod
    def _log_not_blank(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("the log is empty: give the error message, stack trace or log text")
        return value


class Citation(BaseModel):
    """A KB entry the explanation used, with the lookup's score and rank for it."""

    id: str
    title: str
    score: float
    rank: int


class TriageReport(BaseModel):
    """What ``triage()`` returns, ``agent triage`` prints and the MCP ``triage`` tool returns."""

    matches: list[MatchSummary]
    evidence: list[str] = Field(
        default=[],
        description="the ids of the matches that are evidence by themselves: a signature "
        "matched, a trace scored AGENT_TRIAGE_MIN_TRACE_SHARE of its own, or the text is close "
        "in meaning; the other matches are only the nearest entries",
    )
    answer: str | None = Field(
        default=None, description="cause, fix and citations as text; None without the LLM step"
    )
    location: str | None = Field(
        default=None,
        description="where the input's own code failed: the first frame of its stack trace "
        "outside libraries and tests (else outside libraries), with file and line; None when "
        "the input holds no stack trace. From the input alone, not the KB or the LLM",
    )
    cause: str | None = None
    fix: str | None = None
    cited_ids: list[str] = []
    citations: list[Citation] = []
    from_kb: dict[str, str] = Field(
        default_factory=dict,
        description="`cause` and/or `fix` -> the cited entry whose own KB text it is: where an "
        "entry's text is right as written, the model names the entry instead of rewriting it",
    )
    confidence: Confidence | None = None
    fallback: bool = Field(
        default=False,
        description="cause and fix are the top entry's own KB text: the LLM gave no usable "
        "explanation (see llm_error) or could not be reached, or the entries matched are "
        "imported templates not documented yet (no LLM call: nothing to explain from)",
    )
    llm_error: str | None = None
    no_match: bool = Field(
        default=False,
        description="no known error matches the input: nothing matched its signature, no "
        "entry's trace scored AGENT_TRIAGE_MIN_TRACE_SHARE of its own, and no entry is close in "
        "meaning (AGENT_TRIAGE_MIN_SIMILARITY); `matches` are then only the nearest entries, "
        "and nothing is explained",
    )
    lines_in: int
    lines_used: int
    timings_ms: dict[str, float] = Field(
        default_factory=dict, description="per step: reduce, lookup, explain"
    )
    usage: dict[str, int] = Field(default_factory=dict, description="LLM tokens")


def parse_answer(
    answer: str, known_ids: Collection[str]
) -> tuple[str | None, str | None, list[str]]:
    """(cause, fix, cited KB ids) from the agent's answer; citations in order, unique."""
    sections = {m.group(1).lower(): m.group(2).strip() for m in _SECTION.finditer(answer)}
    cited = [c for c in dict.fromkeys(_CITATION.findall(answer)) if c in known_ids]
    return sections.get("cause") or None, sections.get("fix") or None, cited


async def triage(
    request: TriageRequest | str,
    *,
    settings: Settings | None = None,
    index: ErrorIndex | None = None,
) -> TriageReport:
    """Triage ``request`` (a ``TriageRequest``, or just the log text) against ``index``, or
    against the index of ``settings`` (default ``Settings.load()``), opened and closed here."""
    if isinstance(request, str):
        request = TriageRequest(log=request)
    settings = settings or Settings.load()
    if index is not None:
        return await _triage(request, settings, index)
    opened = await asyncio.to_thread(ErrorIndex.open, settings)
    try:
        return await _triage(request, settings, opened)
    finally:
        await asyncio.to_thread(opened.close)


@cache
def _graph() -> Any:  # CompiledStateGraph; Any keeps mypy from chasing langgraph's generics
    return build_triage_graph()


async def _triage(request: TriageRequest, settings: Settings, index: ErrorIndex) -> TriageReport:
    llm = LLMClient(settings) if request.llm else None
    try:
        state = await _graph().ainvoke(
            {"log": request.log, "top_k": request.top_k, "explain": request.llm, "timings_ms": {}},
            context=TriageContext(
                index=index,
                llm=llm,
                min_similarity=settings.triage_min_similarity,
                min_trace_share=settings.triage_min_trace_share,
            ),
        )
    finally:
        if llm is not None:
            await llm.aclose()
    return _report(state)


def _failure_location(text: str) -> str | None:
    """The first frame of ``text``'s stack trace in the project's own code, not a test's
    (else any own frame): ``pkg.Class.method (File.java:938)``; None without a trace."""
    trace = parse_trace(text)
    own = [] if trace is None else trace.own_frames
    frame = next((f for f in own if not f.test), own[0] if own else None)
    if frame is None:
        return None
    place = f"{frame.file}:{frame.line}" if frame.line is not None else frame.file
    return f"{frame.name} ({place})" if place else frame.name


def _report(state: dict[str, Any]) -> TriageReport:
    matches = state.get("matches") or []
    reduced = state["reduced"]
    report = TriageReport(
        matches=LookupResult.from_matches(matches, evidence := state.get("evidence") or []).matches,
        evidence=evidence,
        location=_failure_location(state["log"]),
        lines_in=reduced.lines_in,
        lines_used=reduced.lines_out,
        timings_ms=state["timings_ms"],
        usage=state.get("usage") or {},
        llm_error=state.get("llm_error"),
        fallback=bool(state.get("fallback")),
        no_match=bool(matches) and not state.get("evidence"),
    )
    explanation = state.get("explanation")
    if explanation is None:
        if report.no_match and state["explain"]:
            report.answer = NO_MATCH
        return report
    ranks = {m.id: (rank, m) for rank, m in enumerate(matches, start=1)}
    report.cause, report.fix = explanation.cause, explanation.fix
    report.cited_ids = explanation.cited
    report.from_kb = dict(explanation.from_kb)
    report.confidence = explanation.confidence
    report.citations = [
        Citation(id=i, title=ranks[i][1].title, score=ranks[i][1].score, rank=ranks[i][0])
        for i in explanation.cited
    ]
    if not report.fallback:
        cited = ", ".join(f"[{i}]" for i in explanation.cited) or "none"
        where = f"Where: {report.location}\n" if report.location else ""
        report.answer = (
            f"{where}Cause: {explanation.cause}\nFix: {explanation.fix}\nKnown errors: {cited}"
        )
    return report
