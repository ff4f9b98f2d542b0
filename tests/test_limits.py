"""Usage limits per run (tool calls, tokens) and the fallback server, at the wire."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent import (
    Agent,
    ConfigError,
    LLMResponseError,
    Settings,
    UsageLimitExceededError,
)
from agent.testing import ScriptedServer, call, calls, error, reply
from tools.calculator import make_calculator_tool


def test_the_tool_call_limit_stops_the_run_before_the_call_past_it(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(
        call("calculator", expression="1 + 1"),
        calls(("calculator", {"expression": "2 + 2"}), ("calculator", {"expression": "3 + 3"})),
    )
    limited = settings.model_copy(update={"max_tool_calls": 2})
    with Agent(limited, tools=[make_calculator_tool()]) as agent:
        with pytest.raises(UsageLimitExceededError) as info:
            agent.run("Add things.", thread_id="busy")
        assert info.value.limit == "max_tool_calls"
        assert "AGENT_MAX_TOOL_CALLS" in str(info.value) and "limit of 2" in str(info.value)
        assert info.value.thread_id == "busy"
        # the calls past the limit were not run, and the thread goes on with a new question
        scripted_llm.push(reply("Fine."))
        assert agent.run("Never mind.", thread_id="busy").answer == "Fine."
    scripted_llm.assert_done()
    tool_results = [m for m in scripted_llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_results][0] == "2"
    assert all("2 + 2" not in m["content"] for m in tool_results[1:])


def test_the_token_limit_stops_the_run_before_the_next_call(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    usage = {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50}
    scripted_llm.push(
        replace(call("calculator", expression="1 + 1"), usage=usage),
        replace(call("calculator", expression="2 + 1"), usage=usage),
    )
    limited = settings.model_copy(update={"max_run_tokens": 100})
    with (
        Agent(limited, tools=[make_calculator_tool()]) as agent,
        pytest.raises(UsageLimitExceededError) as info,
    ):
        agent.run("Count.")
    scripted_llm.assert_done()  # no third call
    assert info.value.limit == "max_run_tokens"
    assert "used 100 tokens" in str(info.value) and "AGENT_MAX_RUN_TOKENS" in str(info.value)
    assert len(info.value.transcript) == 5  # question, two calls, two results


def test_the_fallback_server_answers_when_the_primary_fails(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    with ScriptedServer([error(503, "engine overloaded"), error(500, "still down")]) as primary:
        both = settings.model_copy(
            update={
                "llm_base_url": primary.url,
                "llm_fallback_base_url": scripted_llm.url,
                "llm_fallback_model": "backup-model",
            }
        )
        scripted_llm.push(call("calculator", expression="6 * 7"), reply("42."))
        with Agent(both, tools=[make_calculator_tool()]) as agent:
            result = agent.run("6 * 7?")
        primary.assert_done()
    scripted_llm.assert_done()
    assert result.answer == "42."
    assert [r["model"] for r in scripted_llm.requests] == ["backup-model", "backup-model"]
    assert len(result.warnings) == 2
    assert "fallback model backup-model" in result.warnings[0]
    assert "503" in result.warnings[0] and "engine overloaded" in result.warnings[0]


def test_an_unreachable_primary_falls_back_and_a_refusal_does_not(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    down = settings.model_copy(
        update={"llm_base_url": "http://127.0.0.1:9/v1", "llm_fallback_base_url": scripted_llm.url}
    )
    scripted_llm.push(reply("Up here."))
    with Agent(down, tools=[]) as agent:
        result = agent.run("Anyone?")
    assert result.answer == "Up here."
    assert "cannot reach the LLM server at http://127.0.0.1:9/v1" in result.warnings[0]

    with ScriptedServer([error(400, "prompt too long")]) as primary:
        refused = settings.model_copy(
            update={"llm_base_url": primary.url, "llm_fallback_base_url": scripted_llm.url}
        )
        with Agent(refused, tools=[]) as agent, pytest.raises(LLMResponseError, match="400"):
            agent.run("Anyone?")
    scripted_llm.assert_done()  # a 4xx is the request's fault: the fallback was not asked


def test_fallback_and_limit_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_LLM_FALLBACK_BASE_URL", "gpu-box:8000")
    with pytest.raises(ConfigError, match="llm_fallback_base_url.*http://"):
        Settings.load()
    monkeypatch.delenv("AGENT_LLM_FALLBACK_BASE_URL")
    monkeypatch.setenv("AGENT_MAX_TOOL_CALLS", "0")
    with pytest.raises(ConfigError, match="AGENT_MAX_TOOL_CALLS"):
        Settings.load()
