"""Error triage: known errors for a log, plus the agent's explanation, fix and citations.

``triage(TriageRequest(log=...))`` is the one implementation; ``agent triage`` (CLI), the MCP
``triage`` tool and Python callers all call it and get a ``TriageReport``::

    report = asyncio.run(triage(TriageRequest(log=text, llm=False)))

Two steps, so a result exists even when the LLM is down:

1. Lookup (deterministic): the log through the known-error index (``ErrorIndex``); these are
   the "matched known errors".
2. With ``llm`` on, the agent, given the reduced log and the ``lookup_error`` tool, explains
   the cause and the fix and cites KB ids in brackets (``[numpy-float-alias-removed]``). Only
   ids that exist in the KB count as citations; the answer's ``Cause:`` and ``Fix:`` sections
   are parsed out when present. An LLM failure is reported in ``llm_error``, not raised.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.errors import AgentError
from agent.known_errors import (
    MAX_TEXT_CHARS,
    ErrorIndex,
    LookupResult,
    MatchSummary,
    reduce_log,
)
from agent.settings import Settings
from tools.lookup_error import make_local_lookup_error_tool

__all__ = ["TriageReport", "TriageRequest", "parse_answer", "triage"]

TRIAGE_INSTRUCTIONS = (
    "\n\nYou are triaging an error. First call lookup_error with the most specific error text "
    "(the exception line or the ERROR line) to find known errors in the knowledge base. Base "
    "your answer on the entries that fit; cite each one you use by its id in square brackets, "
    "e.g. [numpy-float-alias-removed]. If none fits, say so and reason from the log. Answer in "
    "this form:\nCause: <why it happens, for this log>\nFix: <what to do>\n"
    "Known errors: [<id>], ..."
)

_CITATION = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9_.:-]*)\]")
_HEAD = r"^[ \t]*[*_#]*[ \t]*(?:{names})[ \t]*[*_]*[ \t]*:[ \t]*[*_]*"
_SECTION = re.compile(
    _HEAD.format(names="(cause|fix|known errors)")
    + r"[ \t]*(.*?)(?="
    + _HEAD.format(names="cause|fix|known errors")
    + r"|\Z)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
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

    @field_validator("log")
    @classmethod
    def _log_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the log is empty: give the error message, stack trace or log text")
        return value


class TriageReport(BaseModel):
    """What ``triage()`` returns, ``agent triage`` prints and the MCP ``triage`` tool returns."""

    matches: list[MatchSummary]
    answer: str | None = None
    cause: str | None = None
    fix: str | None = None
    cited_ids: list[str] = []
    llm_error: str | None = None
    lines_in: int
    lines_used: int


def parse_answer(
    answer: str, known_ids: Collection[str]
) -> tuple[str | None, str | None, list[str]]:
    """(cause, fix, cited KB ids) from the agent's answer; citations in order, unique."""
    sections = {m.group(1).lower(): m.group(2).strip() for m in _SECTION.finditer(answer)}
    cited = [c for c in dict.fromkeys(_CITATION.findall(answer)) if c in known_ids]
    return sections.get("cause") or None, sections.get("fix") or None, cited


def triage_question(log_text: str) -> str:
    return f"Triage this log and tell me the cause and the fix:\n```\n{log_text}\n```"


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


async def _triage(request: TriageRequest, settings: Settings, index: ErrorIndex) -> TriageReport:
    reduced = reduce_log(request.log)
    matches = await index.alookup(request.log, top_k=request.top_k)
    report = TriageReport(
        matches=LookupResult.from_matches(matches).matches,
        lines_in=reduced.lines_in,
        lines_used=reduced.lines_out,
    )
    if not request.llm:
        return report
    from agent.api import Agent  # LangGraph and the LLM client load only when explaining

    tools = [make_local_lookup_error_tool(index)]
    try:
        async with Agent(
            settings, tools=tools, persistence="none", instructions=TRIAGE_INSTRUCTIONS
        ) as agent:
            result = await agent.arun(triage_question(reduced.text))
    except AgentError as exc:
        report.llm_error = str(exc)
        return report
    cause, fix, cited = parse_answer(result.answer, set(index.ids()))
    report.answer, report.cause, report.fix, report.cited_ids = result.answer, cause, fix, cited
    return report
