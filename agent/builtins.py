"""The tools an ``Agent`` gets when none are given.

The calculator, ``rag_search`` and the opt-in ``run_python`` live in-process (``rag_search``
opens the vector store on its first call, so building it costs nothing); every other tool comes
from the MCP servers in ``AGENT_MCP_SERVERS``, by default our error-lookup server
(``lookup_error``) over stdio. ``AGENT_TOOLS`` chooses among them (see ``Settings.tools``); by
default every model gets calculator, ``rag_search`` and ``lookup_error``, and the tools'
descriptions say when each one is (not) the right one.
"""

from __future__ import annotations

from agent.closing import Closing
from agent.loop import PROGRAM_TOOL
from agent.mcp import MCPToolset
from agent.settings import Settings
from agent.tooling import Tool
from tools.calculator import make_calculator_tool
from tools.rag_search import make_rag_search_tool
from tools.run_python import make_run_python_tool


def default_tools(settings: Settings) -> list[Tool]:
    """The in-process built-ins that ``AGENT_TOOLS`` selects."""
    chosen = settings.resolved_tools()
    tools: list[Tool] = []
    if "calculator" in chosen:
        tools.append(make_calculator_tool())
    if "rag_search" in chosen:
        tools.append(make_rag_search_tool(settings))
    if "run_python" in chosen:
        tools.append(make_run_python_tool())
    return tools


def default_toolset(settings: Settings) -> MCPToolset | None:
    """The MCP servers' tools, one session each, if ``AGENT_TOOLS`` selects them; the caller
    closes the toolset."""
    if "mcp" not in settings.resolved_tools() or not settings.mcp_servers:
        return None
    return MCPToolset(settings)


class DefaultTools(Closing):
    """The built-ins plus the MCP servers' tools; ``close`` stops the MCP servers.

    ``run_python`` goes last: the chat template lists tools in order, and Qwen2.5-Coder-1.5B
    follows the prompt's "start with a program" only when it is described last (the first
    reply of 3 GSM8K questions: a program on 3 with it last, on 0 with it first)."""

    def __init__(self, settings: Settings) -> None:
        self.tools = default_tools(settings)
        self._toolset = default_toolset(settings)
        if self._toolset is not None:
            try:
                programs = [t for t in self.tools if t.name == PROGRAM_TOOL]
                self.tools = [t for t in self.tools if t not in programs]
                self.tools += [*self._toolset.tools(), *programs]
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        toolset, self._toolset = self._toolset, None
        if toolset is not None:
            toolset.close()
