"""The scripted server must itself fail loudly, or tests built on it prove nothing."""

from __future__ import annotations

import httpx
import pytest

from agent.testing import ScriptedServer, call, loop_responder, reply


def test_extra_call_and_leftovers_fail() -> None:
    with ScriptedServer([reply("one")]) as server:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        first = httpx.post(f"{server.url}/chat/completions", json=body)
        assert first.json()["choices"][0]["message"]["content"] == "one"
        extra = httpx.post(f"{server.url}/chat/completions", json=body)
        assert extra.status_code == 400 and "script is exhausted" in extra.text
        with pytest.raises(AssertionError, match="unexpected extra call #2"):
            server.assert_done()
        assert server.requests == [body, body]
    with ScriptedServer([reply("a"), reply("b")]) as server:
        httpx.post(f"{server.url}/chat/completions", json=body)
        with pytest.raises(AssertionError, match="1 scripted response"):
            server.assert_done()


def test_models_endpoint_and_unknown_route() -> None:
    with ScriptedServer(model="my-model") as server:
        assert httpx.get(f"{server.url}/models").json()["data"][0]["id"] == "my-model"
        assert httpx.get(f"{server.url}/nothing").status_code == 404


def test_stream_is_server_sent_events_with_usage() -> None:
    with ScriptedServer([call("f", x=1)]) as server:
        body = {
            "model": "m",
            "messages": [],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with httpx.stream("POST", f"{server.url}/chat/completions", json=body) as resp:
            lines = [ln for ln in resp.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert '"usage"' in lines[-2] and '"finish_reason": "tool_calls"' in lines[-3]


def test_loop_responder_counts_tool_results() -> None:
    respond = loop_responder(2)
    assert respond({"messages": []}).tool_calls[0]["name"] == "calculator"
    two = {"messages": [{"role": "tool"}, {"role": "tool"}]}
    assert respond(two).content == "done"
    assert respond({**two, "tool_choice": "required"}).tool_calls[0]["name"] == "final_answer"
