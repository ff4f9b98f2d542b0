"""The tools an ``Agent`` gets when none are given.

The calculator and ``rag_search`` live in-process (``rag_search`` opens the vector store on its
first call, so building it costs nothing); every other tool comes from the MCP servers in
``AGENT_MCP_SERVERS``, by default our error-lookup server (``lookup_error``) over stdio. Set
``AGENT_MCP_SERVERS='[]'`` for an agent that starts no server process.
"""

from __future__ import annotations

from agent.mcp_client import MCPToolset
from agent.settings import Settings
from agent.tool import Tool
from tools.calculator import make_calculator_tool
from tools.rag_search import make_rag_search_tool


def default_tools(settings: Settings) -> list[Tool]:
    """The in-process built-ins."""
    return [make_calculator_tool(), make_rag_search_tool(settings)]


def default_toolset(settings: Settings) -> MCPToolset | None:
    """The MCP servers' tools, one session each; the caller closes the toolset."""
    return MCPToolset(settings) if settings.mcp_servers else None
