"""Faults on the LLM wire: every one ends as a clear ``LLMResponseError`` or a run deadline,
never a traceback, an empty "success" or a hang. The faults are real bytes from a real HTTP
server (the scripted one), through the real ``Agent``.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import ToolMessage

from agent import (
    Agent,
    ErrorEvent,
    FinalEvent,
    InputError,
    LLMResponseError,
    RunTimeoutError,
    Settings,
)
from agent.llm.client import MAX_REPLY_CHARS
from agent.testing import Response, ScriptedServer, reply
from tests.test_api import make_tools

SSE = "text/event-stream"


def streamed_error(agent: Agent, question: str = "hi") -> BaseException:
    events = list(agent.stream(question))
    last = events[-1]
    assert isinstance(last, ErrorEvent), f"expected an error event, got {last!r}"
    return last.error


def test_an_error_event_in_the_stream_is_an_llm_error_with_the_servers_message(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    body = b'data: {"error": {"message": "model overloaded, retry later", "code": 503}}\n\n'
    scripted_llm.push(Response(body=body, content_type=SSE))
    with Agent(settings, tools=make_tools()) as agent:
        error = streamed_error(agent)
    assert isinstance(error, LLMResponseError)
    assert "sent an error in its reply: model overloaded, retry later" in str(error)


@pytest.mark.parametrize("streaming", [False, True], ids=["run", "stream"])
def test_an_html_page_with_status_200_is_an_error_not_an_empty_answer(
    scripted_llm: ScriptedServer, settings: Settings, streaming: bool
) -> None:
    page = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
    scripted_llm.push(Response(body=page, content_type="text/html"))
    with Agent(settings, tools=make_tools()) as agent:
        if streaming:
            error = streamed_error(agent)
        else:
            with pytest.raises(LLMResponseError) as caught:
                agent.run("hi")
            error = caught.value
    assert isinstance(error, LLMResponseError)
    assert "OpenAI-compatible" in str(error)
    assert ("Welcome to nginx" in str(error)) or ("no completion events" in str(error))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"object": "list", "data": []}', "not a chat completion"),
        (b'{"id": "x", "choices": []}', "returned no choices"),
        (b'{"id": "x", "choices": [{"index": 0, "text": "hi"}]}', "a choice without a message"),
    ],
    ids=["not-a-completion", "no-choices", "no-message"],
)
def test_json_of_the_wrong_shape_is_an_error_naming_what_is_missing(
    scripted_llm: ScriptedServer, settings: Settings, body: bytes, expected: str
) -> None:
    scripted_llm.push(Response(body=body, content_type="application/json"))
    with Agent(settings, tools=make_tools()) as agent, pytest.raises(LLMResponseError) as caught:
        agent.run("hi")
    assert expected in str(caught.value)
    assert f"the LLM server at {scripted_llm.url}" in str(caught.value)


def test_garbled_events_are_an_error_naming_the_problem(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(Response(body=b'data: {"id": "x", "choices": [\n\n', content_type=SSE))
    with Agent(settings, tools=make_tools()) as agent:
        error = streamed_error(agent)
    assert isinstance(error, LLMResponseError) and "not JSON" in str(error)


def test_a_stream_of_keep_alives_ends_at_the_run_deadline(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"run_timeout_s": 1.0})
    scripted_llm.push(Response(keepalive_forever=True), reply("fine now"))
    with Agent(settings, tools=make_tools()) as agent:
        error = streamed_error(agent, "first")
        assert isinstance(error, RunTimeoutError) and "AGENT_RUN_TIMEOUT_S" in str(error)
        # the thread is still usable: the next run answers
        assert agent.run("second", thread_id=error.thread_id).answer == "fine now"


def test_a_call_cut_off_by_max_tokens_goes_back_naming_the_limit(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    cut = Response(
        tool_calls=[{"name": "calculator", "arguments": '{"expression": "12345 * 678'}],
        finish_reason="length",
    )
    scripted_llm.push(cut, reply("I will stop here."))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("multiply")
    scripted_llm.assert_done()
    tool_message = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert "cut off at max_tokens=1024 (AGENT_MAX_TOKENS)" in str(tool_message.content)


def test_an_oversized_reply_is_refused_and_not_saved(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("x" * (MAX_REPLY_CHARS + 10)), reply("short"))
    with Agent(settings, tools=make_tools()) as agent:
        with pytest.raises(LLMResponseError, match="over 1,000,000 characters"):
            agent.run("talk", thread_id="big")
        history = agent.history("big")
        assert all(len(str(m.content)) < 1000 for m in history)
        assert agent.run("again", thread_id="big").answer == "short"


def test_stream_always_ends_with_a_final_or_an_error_event(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("fine"))
    with Agent(settings, tools=make_tools()) as agent:
        events = list(agent.stream("hi"))
    assert isinstance(events[-1], FinalEvent)


def test_a_question_longer_than_the_context_is_refused_and_the_thread_stays_usable(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("first answer"), reply("third answer"))
    with Agent(settings, tools=make_tools()) as agent:
        agent.run("short question", thread_id="t")
        huge = "word " * 30_000  # ~150,000 characters: over the 32,768-token context
        with pytest.raises(InputError, match="32,768 tokens") as caught:
            agent.run(huge, thread_id="t")
        assert "not added to the thread" in str(caught.value)
        assert [m.content for m in agent.history("t")] == ["short question", "first answer"]
        assert agent.run("another question", thread_id="t").answer == "third answer"
    scripted_llm.assert_done()


def test_an_answer_cut_off_by_the_length_limit_says_so(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("The steps are: first, open the", finish_reason="length"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("explain")
    assert result.answer == "The steps are: first, open the"
    assert result.warnings and "cut off" in result.warnings[0]
    assert "AGENT_MAX_TOKENS" in result.warnings[0]


def test_calls_sharing_an_id_each_get_their_own_result(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    same_id = Response(
        tool_calls=[
            {"id": "call_1", "name": "add", "arguments": {"a": 1, "b": 2}},
            {"id": "call_1", "name": "add", "arguments": {"a": 10, "b": 20}},
        ]
    )
    scripted_llm.push(same_id, reply("3 and 30"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("two sums")
    scripted_llm.assert_done()
    assert [(c.call_id, c.content) for c in result.tool_calls] == [
        ("call_1", "3"),
        ("call_1_1", "30"),
    ]
    sent = scripted_llm.requests[1]["messages"]
    assert [m["tool_call_id"] for m in sent if m["role"] == "tool"] == ["call_1", "call_1_1"]
