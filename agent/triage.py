"""Error triage: known errors for a log, plus the agent's explanation, fix and citations.

Two steps, so a result exists even when the LLM is down:

1. ``lookup`` (deterministic): the reduced log through the hybrid lookup; these are the
   "matched known errors".
2. The agent, given the reduced log and a ``lookup_error`` tool, explains the cause and the fix
   and cites KB ids in brackets (``[numpy-float-alias-removed]``). Only ids that exist in the KB
   count as citations; the answer's ``Cause:`` and ``Fix:`` sections are parsed out when present.

``agent triage`` (CLI) and the MCP ``triage`` tool both call ``triage_log``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Sequence

from pydantic import BaseModel

from agent.errors import AgentError
from agent.known_errors.log_reduce import reduce_log
from agent.known_errors.lookup import ErrorMatch, MatchSummary, summarize
from agent.loop.prompts import system_prompt_for
from agent.settings import Settings
from agent.tooling.tool import Tool

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


class TriageReport(BaseModel):
    """What ``agent triage`` prints and the MCP ``triage`` tool returns."""

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


async def triage_log(
    log: str,
    *,
    settings: Settings,
    lookup: Callable[[str, int], Awaitable[Sequence[ErrorMatch]]],
    known_ids: Collection[str],
    lookup_tool: Tool | None,
    top_k: int = 3,
) -> TriageReport:
    """Triage ``log``. ``lookup_tool=None`` skips the LLM (matches only)."""
    if not log.strip():
        raise ValueError("the log is empty: give the error message, stack trace or log text")
    reduced = reduce_log(log)
    matches = await lookup(log, top_k)
    report = TriageReport(
        matches=summarize(matches).matches,
        lines_in=reduced.lines_in,
        lines_used=reduced.lines_out,
    )
    if lookup_tool is None:
        return report
    from agent.api import Agent

    prompt = system_prompt_for(settings.resolved_tool_call_mode()) + TRIAGE_INSTRUCTIONS
    try:
        async with Agent(
            settings, tools=[lookup_tool], persistence="none", system_prompt=prompt
        ) as agent:
            result = await agent.arun(triage_question(reduced.text))
    except AgentError as exc:
        report.llm_error = str(exc)
        return report
    cause, fix, cited = parse_answer(result.answer, known_ids)
    report.answer, report.cause, report.fix, report.cited_ids = result.answer, cause, fix, cited
    return report
