"""``Agent(model=...)``: a LangChain chat model (``ChatOpenAI``) in place of the settings' server,
driven through the scripted server at the wire. Validation, repair and budgets still apply."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from agent import Agent, ConfigError, FinalEvent, LLMUnavailableError, Settings, TokenEvent
from agent.loop import cached_profile
from agent.testing import Response, ScriptedServer, call, reply
from tools.calculator import make_calculator_tool


def chat_model(url: str, **kw: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=url, model="provider-model", api_key="k", max_retries=0, temperature=0, **kw
    )


def test_a_chat_model_runs_the_loop_and_a_bad_call_is_repaired_by_name(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(
        call("calculator", expr="2 + 2"),
        call("calculator", expression="2 + 2"),
        reply("It is 4."),
    )
    other = settings.model_copy(
        update={"llm_base_url": "http://127.0.0.1:9/v1", "repair_choice": "named"}  # URL unused
    )
    with Agent(other, tools=[make_calculator_tool()], model=chat_model(scripted_llm.url)) as agent:
        result = agent.run("What is 2 + 2?")
    scripted_llm.assert_done()
    assert result.answer == "It is 4."
    assert [c.is_error for c in result.tool_calls] == [True, False]
    first, repair, _ = scripted_llm.requests
    assert first["model"] == "provider-model"
    assert [t["function"]["name"] for t in first["tools"]] == ["calculator"]
    # the repair names the tool, so the provider's guided decoding must produce its arguments
    assert repair["tool_choice"] == {"type": "function", "function": {"name": "calculator"}}
    assert repair["messages"][-1]["role"] == "tool"
    assert "calculator" in repair["messages"][-1]["content"]


def test_a_chat_model_streams_tokens_and_keeps_its_budgets(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(
        call("calculator", expression="1 + 1"),
        call("calculator", expression="2 + 1"),
        reply("Three, from what I have."),  # the rescue: budget spent, tools off
    )
    tight = settings.model_copy(update={"max_steps": 2})
    model = chat_model(scripted_llm.url, streaming=True)
    with Agent(tight, tools=[make_calculator_tool()], model=model) as agent:
        events = list(agent.stream("Count up."))
    scripted_llm.assert_done()
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.result.rescued is not None and "AGENT_MAX_STEPS=2" in final.result.rescued
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)).endswith("I have.")
    assert all(r.get("stream") for r in scripted_llm.requests)
    assert "tools" not in scripted_llm.requests[-1]


def test_structured_output_through_a_chat_model(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    class City(BaseModel):
        name: str

    scripted_llm.push(reply("Lyon."), reply('{"name": "Lyon"}'))
    with Agent(settings, tools=[], model=chat_model(scripted_llm.url)) as agent:
        result = agent.run("Which city?", output_type=City)
    assert result.output == City(name="Lyon")
    assert scripted_llm.requests[-1]["response_format"]["json_schema"]["name"] == "City"


def test_a_chat_model_that_cannot_connect_is_llm_unavailable(settings: Settings) -> None:
    with (
        Agent(settings, tools=[], model=chat_model("http://127.0.0.1:9/v1")) as agent,
        pytest.raises(LLMUnavailableError, match="provider-model"),
    ):
        agent.run("Hello?")


def test_a_model_name_picks_the_served_model(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("hi"))
    with Agent(settings, tools=[], model="another-model") as agent:
        agent.run("Hello?")
    assert scripted_llm.requests[0]["model"] == "another-model"
    with pytest.raises(ConfigError, match="LangChain chat model"):
        Agent(settings, tools=[], model=42)  # type: ignore[arg-type]


def test_auto_mode_probes_a_chat_model_like_a_server(settings: Settings) -> None:
    def respond(body: dict[str, Any]) -> Response:
        names = [t["function"]["name"] for t in body.get("tools", [])]
        question = body["messages"][-1]["content"]
        if names == ["add"]:  # the probe: answer its sums right, as a parsed call
            a, b = (17, 25) if "17" in question else (1203, 88)
            return call("add", a=a, b=b)
        return reply("Hello.")

    with ScriptedServer(responder=respond) as llm:
        url = llm.url
        auto = settings.model_copy(update={"tool_call_mode": "auto"})
        with Agent(auto, tools=[], model=chat_model(llm.url)) as agent:
            assert agent.run("Hi?").answer == "Hello."
        choices = [r.get("tool_choice") for r in llm.requests[:6]]
    assert choices == [
        "auto",
        "auto",
        "required",
        "required",
        {"type": "function", "function": {"name": "add"}},
        {"type": "function", "function": {"name": "add"}},
    ]
    profile = cached_profile(auto, f"langchain:ChatOpenAI:{url}", "provider-model")
    assert profile is not None and profile.mode == "native" and profile.named_choice


def test_one_chat_model_serves_the_sync_and_the_async_api_alike(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    """A chat model's async client binds to the first loop that used it: the agent's own
    private loop (run) and a caller's loops (asyncio.run) must all be able to use it."""
    import asyncio

    scripted_llm.push(reply("one"), reply("two"), reply("three"))
    with Agent(settings, tools=[], model=chat_model(scripted_llm.url)) as agent:
        assert agent.run("1?").answer == "one"
        assert asyncio.run(agent.arun("2?")).answer == "two"
        assert asyncio.run(agent.arun("3?")).answer == "three"
    scripted_llm.assert_done()
