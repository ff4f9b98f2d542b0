"""An Agent built without tools= gets the built-ins, including lookup_error over MCP."""

from __future__ import annotations

from pathlib import Path

from agent import Agent
from agent.settings import Settings
from agent.testing import ScriptedServer, call, reply


def test_default_agent_has_the_built_ins_and_closes_its_mcp_server(
    scripted_llm: ScriptedServer, tmp_path: Path
) -> None:
    settings = Settings.load(
        llm_base_url=scripted_llm.url,
        llm_model="scripted-model",
        tool_call_mode="native",
        data_dir=tmp_path,
        llm_max_retries=0,
        # the first call on a fresh data dir waits while the server builds the KB index
        mcp_timeout_s=300,
    )
    assert settings.mcp_servers == ["builtin:errors"]
    scripted_llm.push(
        call("lookup_error", text="AttributeError: module 'numpy' has no attribute 'float'"),
        reply("Use float or np.float64."),
    )
    with Agent(settings) as agent:
        assert {"calculator", "rag_search", "lookup_error"} <= set(agent.tools.names)
        result = agent.run("Why does np.float fail?")
        defaults = agent._defaults
        assert defaults is not None and defaults._toolset is not None
    # closed with the agent, which stops the server process
    assert agent._defaults is None and defaults._toolset is None
    scripted_llm.assert_done()
    found = result.tool_calls[0]
    assert not found.is_error and "np.float64" in found.content
