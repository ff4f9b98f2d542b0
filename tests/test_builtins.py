"""An Agent built without tools= gets the built-ins, including lookup_error over MCP."""

from __future__ import annotations

from pathlib import Path

from agent import Agent
from agent.settings import Settings
from agent.testing import ScriptedServer, call, reply


def scripted_settings(server: ScriptedServer, data_dir: Path, **overrides: object) -> Settings:
    return Settings.load(
        llm_base_url=server.url,
        llm_model="scripted-model",
        tool_call_mode="native",
        data_dir=data_dir,
        llm_max_retries=0,
        # the first call on a fresh data dir waits while the server builds the KB index
        mcp_timeout_s=300,
        **overrides,
    )


def test_default_agent_has_the_built_ins_and_closes_its_mcp_server(
    scripted_llm: ScriptedServer, tmp_path: Path
) -> None:
    settings = scripted_settings(scripted_llm, tmp_path)
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


def test_run_python_is_opt_in_listed_last_and_runs_a_program_the_model_writes(
    scripted_llm: ScriptedServer, tmp_path: Path
) -> None:
    assert "run_python" not in Settings.load(data_dir=tmp_path).resolved_tools()
    settings = scripted_settings(scripted_llm, tmp_path, tools="run_python,calculator,mcp")
    scripted_llm.push(
        # a small code model writes the program as text, not as a tool call
        reply("```python\nfamilies = 3\nper_family = 10\nprint(150 - families * per_family)\n```"),
        reply("They still need $120."),
    )
    with Agent(settings) as agent:
        # described last: the model follows "start with a program" only then (see DefaultTools)
        assert agent.tools.names[-1] == "run_python"
        result = agent.run("The band earned $10 from each of 3 families; how much of $150 is left?")
    scripted_llm.assert_done()
    assert (
        "reply must start with a short Python program"
        in (scripted_llm.requests[0]["messages"][0]["content"])
    )
    ran = result.tool_calls[0]
    assert (ran.name, ran.content, ran.is_error) == ("run_python", "120", False)
    assert result.answer == "They still need $120."
