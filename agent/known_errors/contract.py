"""The ``lookup_error`` tool's contract: name, description, arguments, result, body, evidence rule.

Written once, here, for both places the tool runs: in the agent (``tools.lookup_error``, a
``FunctionTool`` on an ``ErrorIndex`` in this process) and in our MCP server
(``agent.mcp.server``), so the model sees the same schema and gets the same JSON either way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.known_errors.lookup import ErrorIndex, ErrorMatch, Signal

if TYPE_CHECKING:
    from agent.settings import Settings

LOOKUP_ERROR = "lookup_error"
MAX_TEXT_CHARS = 1_000_000
LOOKUP_ERROR_DESCRIPTION = (
    "Look up known errors in the error knowledge base. Give the error message, log line, stack "
    "trace or whole log; long inputs are reduced to their informative lines. Returns the best "
    "matching known errors with id, cause and fix, and which signals matched (signature = the "
    "entry's regex matched, the strongest evidence; bm25/dense = similar text). evidence is "
    "true for an entry that matched by itself (its signature, a close stack trace, or text "
    "close in meaning); when no entry has it, the error is likely not in the KB: say so rather "
    "than explain the nearest entry. Cite entries by id."
)


def is_close(match: ErrorMatch, min_similarity: float, min_trace_share: float) -> bool:
    """Whether ``match`` is evidence that the input is that known error: its signature
    matched, its stack trace scored at least ``min_trace_share`` of the query trace's own score,
    or its text is close in meaning (cosine >= ``min_similarity``). Shared words alone are not:
    a log line that reports no error (an INFO line, a greeting) shares some with many entries,
    and the lookup still ranks its nearest ones (cosine 0.1-0.5 with all-MiniLM-L6-v2, against
    0.6-0.8 for an error described in other words). Nor is the nearest trace of an unknown
    error: on Defects4J (``bench/triage_gate.py``) every trace whose bug's entry ranked first
    scored at least 0.2 of its own score, while for 60% of the traces the best entry of
    another project (an error the KB does not know) scored under 0.2."""
    if "signature" in match.signals:
        return True
    trace = match.signals.get("trace")
    if trace is not None and trace.score >= min_trace_share:
        return True
    dense = match.signals.get("dense")
    return dense is not None and dense.score >= min_similarity


class LookupErrorArgs(BaseModel):
    # no docstring: it would be sent to the model as the schema's description, for nothing
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="The error message, log line, stack trace or log to look up",
    )
    top_k: int = Field(default=5, ge=1, le=20, description="How many known errors to return (1-20)")

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank: pass the error message, stack trace or log to look up")
        return value


class MatchSummary(BaseModel):
    """One match as a tool returns it: enough to explain and fix, without the raw examples."""

    id: str
    title: str
    score: float
    matched_by: list[Signal]
    matched_text: str | None = None
    evidence: bool | None = None  # matched by itself (``is_close``); None: not judged
    cause: str
    fix: str
    references: list[str] = []


class LookupResult(BaseModel):
    """The result of ``lookup_error``."""

    matches: list[MatchSummary]

    @classmethod
    def from_matches(
        cls, matches: Sequence[ErrorMatch], evidence: Collection[str] | None = None
    ) -> LookupResult:
        """``matches`` summed up; ``evidence``: the ids that are evidence by themselves."""
        return cls(
            matches=[
                MatchSummary(
                    id=m.id,
                    title=m.title,
                    score=m.score,
                    matched_by=m.matched_by,
                    matched_text=m.matched_text,
                    evidence=None if evidence is None else m.id in evidence,
                    cause=m.entry.cause,
                    fix=m.entry.fix,
                    references=m.entry.references,
                )
                for m in matches
            ]
        )


async def lookup_known_errors(
    index: ErrorIndex, args: LookupErrorArgs, settings: Settings
) -> LookupResult:
    """What ``lookup_error`` does, wherever it runs: the matches, each judged as evidence by
    triage's rule and thresholds (``AGENT_TRIAGE_MIN_SIMILARITY`` / ``_MIN_TRACE_SHARE``)."""
    matches = await index.alookup(args.text, top_k=args.top_k)
    low, share = settings.triage_min_similarity, settings.triage_min_trace_share
    return LookupResult.from_matches(matches, [m.id for m in matches if is_close(m, low, share)])
