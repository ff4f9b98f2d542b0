"""The LLM client against the scripted server: retries, errors, streaming, wire format."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent.errors import LLMResponseError, LLMUnavailableError
from agent.llm import LLMClient, make_chat_model, to_openai_messages
from agent.settings import Settings
from agent.testing import ScriptedServer, call, error, reply


async def test_retries_5xx_and_429_then_succeeds(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(error(503, "warming up"), error(429, "slow down"), reply("ok"))
    client = LLMClient(settings.model_copy(update={"llm_max_retries": 2}))
    try:
        ai = await client.complete([HumanMessage("hi")], tools=[])
    finally:
        await client.aclose()
    assert ai.content == "ok"
    assert len(scripted_llm.requests) == 3
    scripted_llm.assert_done()


async def test_client_error_is_not_retried_and_names_the_status(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(error(400, "tool_choice 'required' is not supported"))
    client = LLMClient(settings.model_copy(update={"llm_max_retries": 3}))
    try:
        with pytest.raises(LLMResponseError) as info:
            await client.complete([HumanMessage("hi")], tools=[])
    finally:
        await client.aclose()
    assert info.value.status_code == 400
    assert "answered 400: tool_choice 'required' is not supported" in str(info.value)
    assert len(scripted_llm.requests) == 1


async def test_unreachable_server_names_the_url() -> None:
    settings = Settings.load(llm_base_url="http://127.0.0.1:9/v1", llm_max_retries=1)
    client = LLMClient(settings)
    try:
        with pytest.raises(LLMUnavailableError) as info:
            await client.complete([HumanMessage("hi")], tools=[])
    finally:
        await client.aclose()
    assert "http://127.0.0.1:9/v1" in str(info.value)


async def test_streamed_tool_call_is_reassembled(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("calculator", expression="(1 + 2) * 3"))
    tokens: list[str] = []
    client = LLMClient(settings)
    try:
        ai = await client.complete([HumanMessage("hi")], tools=[], on_token=tokens.append)
    finally:
        await client.aclose()
    assert ai.tool_calls[0]["args"] == {"expression": "(1 + 2) * 3"}
    assert ai.usage_metadata is not None and ai.usage_metadata["total_tokens"] == 25
    assert tokens == []


def test_wire_format_round_trip() -> None:
    ai = AIMessage(
        "",
        tool_calls=[{"id": "c1", "name": "f", "args": {"x": 1}}],
        invalid_tool_calls=[
            {"id": "c2", "name": "g", "args": "{bad", "error": "e", "type": "invalid_tool_call"}
        ],
    )
    wire = to_openai_messages(
        [
            SystemMessage("s"),
            HumanMessage("h"),
            ai,
            ToolMessage("r1", tool_call_id="c1"),
            ToolMessage("r2", tool_call_id="c2"),
        ]
    )
    assert [m["role"] for m in wire] == ["system", "user", "assistant", "tool", "tool"]
    assert wire[2]["content"] is None
    assert [c["function"]["arguments"] for c in wire[2]["tool_calls"]] == ['{"x": 1}', "{bad"]


def test_make_chat_model_uses_the_same_settings() -> None:
    settings = Settings.load(llm_base_url="http://gpu-box:8000/v1", llm_model="qwen")
    model = make_chat_model(settings)
    assert model.model_name == "qwen"
    assert str(model.openai_api_base) == "http://gpu-box:8000/v1"
