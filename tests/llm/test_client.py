"""The LLM client against the scripted server: retries, errors, streaming, wire format."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent.errors import LLMResponseError, LLMUnavailableError
from agent.llm import LLMClient, make_chat_model, to_openai_messages
from agent.llm.client import once
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


async def test_the_server_stops_a_looping_reply_and_the_loop_is_kept_once(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    line = "- Fixed the HTTP parser.\n"
    looped = "The changelog says:\n" + line * 4
    scripted_llm.push(reply(looped, finish_reason="repetition"), reply("ok"))
    client = LLMClient(settings)
    try:
        ai = await client.complete([HumanMessage("what changed?")], tools=[])
        tokens: list[str] = []
        await client.complete([HumanMessage("again")], tools=[], on_token=tokens.append)
    finally:
        await client.aclose()
    assert ai.content == "The changelog says:\n- Fixed the HTTP parser."
    assert ai.response_metadata["finish_reason"] == "repetition"
    for request in scripted_llm.requests:  # streamed or not, the server is asked to watch
        assert request["repetition_detection"] == {
            "min_pattern_size": 8,
            "max_pattern_size": 128,
            "min_count": settings.repeat_stop,
        }


def test_once_keeps_text_that_does_not_end_in_a_run() -> None:
    assert once("1000000 people, 2 x 2 x 2 = 8") == "1000000 people, 2 x 2 x 2 = 8"
    assert once("") == ""
    assert once("go on\ngo on\ngo on\ngo on\n") == "go on"  # a run from the very start
    assert once("total: 10101010") == "total: 10"  # the shortest period wins


async def test_a_server_without_repetition_detection_is_asked_again_without_it(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    refused = "Unrecognized request argument supplied: repetition_detection"
    scripted_llm.push(error(400, refused), reply("ok"), reply("still ok"))
    client = LLMClient(settings)
    try:
        first = await client.complete([HumanMessage("hi")], tools=[])
        second = await client.complete([HumanMessage("hi")], tools=[])
    finally:
        await client.aclose()
    assert (first.content, second.content) == ("ok", "still ok")
    sent = ["repetition_detection" in r for r in scripted_llm.requests]
    assert sent == [True, False, False]  # asked again once, then never sent

    scripted_llm.push(error(400, "tool_choice 'required' is not supported"))
    client = LLMClient(settings)
    try:  # any other 400 is the caller's
        with pytest.raises(LLMResponseError, match="required"):
            await client.complete([HumanMessage("hi")], tools=[])
    finally:
        await client.aclose()

    off = LLMClient(settings.model_copy(update={"repeat_stop": 0}))
    scripted_llm.push(reply("ok"))
    try:
        await off.complete([HumanMessage("hi")], tools=[])
    finally:
        await off.aclose()
    assert "repetition_detection" not in scripted_llm.requests[-1]
