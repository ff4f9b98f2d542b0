"""The ``lookup_error`` tool: known errors (cause, fix, KB id) for an error message or a log.

The agent usually reaches it over MCP, as a tool of our error-lookup server (``builtin:errors``
in ``AGENT_MCP_SERVERS``, see ``agent.builtins``). In process (triage, ``agent.triage``) the
same tool runs directly on an ``ErrorIndex``: ``make_local_lookup_error_tool(index, settings)``. Its
contract, ``LookupErrorArgs`` in and ``LookupResult`` out, is ``agent.known_errors``'s, which
the MCP server publishes too, so the model sees the same thing either way.
"""

from __future__ import annotations

from agent.known_errors import (
    LOOKUP_ERROR,
    LOOKUP_ERROR_DESCRIPTION,
    ErrorIndex,
    LookupErrorArgs,
    LookupResult,
    lookup_known_errors,
)
from agent.settings import Settings
from agent.tooling import FunctionTool


def make_local_lookup_error_tool(
    index: ErrorIndex, settings: Settings
) -> FunctionTool[LookupErrorArgs]:
    """``lookup_error`` running on ``index`` in this process (``settings``: the evidence
    thresholds)."""

    async def lookup_error(args: LookupErrorArgs) -> LookupResult:
        return await lookup_known_errors(index, args, settings)

    return FunctionTool(
        lookup_error,
        LookupErrorArgs,
        name=LOOKUP_ERROR,
        description=LOOKUP_ERROR_DESCRIPTION,
        untrusted_output=True,  # KB entries are imported from outside (Q&A pairs, files)
    )
