"""The ``lookup_error`` tool: known errors (cause, fix, KB id) for an error message or a log.

In the agent it is an MCP client tool: our error-lookup MCP server's ``lookup_error``, reached
through ``agent.mcp.client`` over stdio (one session per toolset, re-opened if the server dies)::

    tool = make_lookup_error_tool(settings)            # starts `python -m agent.mcp.server`

Inside that server (and for the in-process ``agent triage``) the same tool runs directly on an
``ErrorIndex``: ``make_local_lookup_error_tool(index)``. Both take ``LookupErrorArgs`` and return
``LookupResult`` JSON, so the model sees the same thing either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from agent.errors import ToolError
from agent.known_errors.lookup import ErrorIndex, LookupResult, summarize
from agent.tooling.tool import FunctionTool, Tool

if TYPE_CHECKING:
    from agent.mcp.client import MCPToolset
    from agent.settings import Settings

LOOKUP_ERROR = "lookup_error"
MAX_TEXT_CHARS = 1_000_000
LOOKUP_ERROR_DESCRIPTION = (
    "Look up known errors in the error knowledge base. Give the error message, log line, stack "
    "trace or whole log; long inputs are reduced to their informative lines. Returns the best "
    "matching known errors with id, cause and fix, and which signals matched (signature = the "
    "entry's regex matched, the strongest evidence; bm25/dense = similar text). Cite entries "
    "by id."
)


class LookupErrorArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="The error message, log line, stack trace or log to look up",
    )
    top_k: int = Field(5, ge=1, le=20, description="How many known errors to return (1-20)")


def check_text(text: str) -> str:
    if not text.strip():
        raise ToolError("text is blank: pass the error message, stack trace or log to look up")
    return text


def make_local_lookup_error_tool(index: ErrorIndex) -> FunctionTool[LookupErrorArgs]:
    """``lookup_error`` running on ``index`` in this process."""

    async def lookup_error(args: LookupErrorArgs) -> LookupResult:
        matches = await index.alookup(check_text(args.text), top_k=args.top_k)
        return summarize(matches)

    return FunctionTool(
        lookup_error, LookupErrorArgs, name=LOOKUP_ERROR, description=LOOKUP_ERROR_DESCRIPTION
    )


def make_lookup_error_tool(
    settings: Settings | None = None, *, toolset: MCPToolset | None = None
) -> Tool:
    """``lookup_error`` through MCP: from ``toolset`` (whose owner closes it, which stops the
    server), or else from a new toolset for our server alone that lives as long as this process
    (its stdio server exits with it)."""
    from agent.mcp.client import BUILTIN_ERRORS, MCPToolset

    if toolset is None:
        if settings is None:
            from agent.settings import Settings

            settings = Settings.load()
        toolset = MCPToolset(settings, servers=[BUILTIN_ERRORS])
    return toolset.tool(LOOKUP_ERROR)
