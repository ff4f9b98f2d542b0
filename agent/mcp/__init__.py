"""MCP: the client that turns MCP servers' tools into agent tools, and our error-lookup server.

``MCPToolset`` (``agent.mcp.client``) opens one session per server in ``AGENT_MCP_SERVERS``
(stdio or streamable HTTP), lists their tools as validated ``JsonSchemaTool`` s and re-opens a
session whose server died. ``agent.mcp.server`` is a front end (run it with ``agent mcp serve``
or ``python -m agent.mcp.server``); it is not imported here, so using the client stays light.
"""

from agent.mcp.client import BUILTIN_ERRORS, MCPToolset, ServerSpec, parse_server

__all__ = ["BUILTIN_ERRORS", "MCPToolset", "ServerSpec", "parse_server"]
