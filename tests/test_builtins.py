"""An Agent built without tools= gets the built-ins, including lookup_error over MCP."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import Agent
from agent.errors import ConfigError
from agent.settings import Settings
from agent.testing import ScriptedServer, call, reply


def scripted_settings(server: ScriptedServer, data_dir: Path, **overrides: object) -> Settings:
    defaults: dict[str, object] = {
        "llm_base_url": server.url,
        "llm_model": "scripted-model",
        "tool_call_mode": "native",
        "data_dir": data_dir,
        "llm_max_retries": 0,
        # the first call on a fresh data dir waits while the server builds the KB index
        "mcp_timeout_s": 300,
    }
    return Settings.load(**{**defaults, **overrides})


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


def test_code_mode_sends_no_schemas_and_loops_program_error_fix_answer(
    scripted_llm: ScriptedServer, tmp_path: Path
) -> None:
    # tools=auto in code mode is run_python alone: no MCP server, no Milvus
    settings = scripted_settings(scripted_llm, tmp_path, tool_call_mode="code")
    scripted_llm.push(
        reply("```python\nslices = 8 * 2\nprint(slices / packs)\n```\nThe answer is 4."),
        reply("```python\nslices = 8 * 2\nper_pack = 4\nprint(slices // per_pack)\n```"),
        reply("Jimmy needs 4 packs."),
    )
    with Agent(settings) as agent:
        assert agent.tools.names == ["run_python"]
        result = agent.run("8 sandwiches of 2 slices; packs of 4 slices. How many packs?")
    scripted_llm.assert_done()
    assert all("tools" not in r and "tool_choice" not in r for r in scripted_llm.requests)
    system = scripted_llm.requests[0]["messages"][0]["content"]
    assert system.startswith("When the user refers to an earlier result")
    failed, ran = result.tool_calls
    assert failed.is_error and "line 2: NameError: name 'packs' is not defined" in failed.content
    assert (ran.content, ran.is_error) == ("4", False)
    # what the model wrote after its program (a guess at the result) is not kept
    second = scripted_llm.requests[1]["messages"]
    assert not any("The answer is 4" in str(m.get("content")) for m in second)
    assert result.answer == "Jimmy needs 4 packs."


def test_code_mode_with_tools_it_cannot_offer_is_a_config_error(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path, tool_call_mode="code", tools="calculator")
    with pytest.raises(ConfigError) as info:
        Agent(settings)
    assert "tool_call_mode=code" in str(info.value)
    assert "calculator would never be called" in str(info.value)
