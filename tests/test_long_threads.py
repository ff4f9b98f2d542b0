"""Long threads: each LLM call sends what fits the model's context, tool calls kept whole.

The scripted server here enforces its context like vLLM (a 400 for a request that does not
fit) and checks that every request is a valid conversation."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from agent import Agent, Settings
from agent.llm import to_openai_messages
from agent.loop import estimate_tokens, fit_messages
from agent.testing import Response, ScriptedServer, call, prompt_tokens, reply
from tools.calculator import make_calculator_tool


def turn(n: int, words: int = 200) -> list[AnyMessage]:
    """A question, a tool call and its result, an answer."""
    question = HumanMessage(f"Question {n}: " + "lorem ipsum " * words)
    ai = AIMessage("", tool_calls=[{"name": "calculator", "args": {"x": n}, "id": f"c{n}"}])
    result = ToolMessage(str(n), tool_call_id=f"c{n}", name="calculator")
    return [question, ai, result, AIMessage(f"Answer {n}.")]


def test_a_thread_that_fits_is_sent_whole() -> None:
    messages = turn(1) + turn(2)
    fitted = fit_messages(messages, budget=10_000)
    assert fitted.messages == messages and fitted.left_out == 0
    assert fit_messages(messages, None).messages == messages


def test_whole_earlier_turns_go_first_oldest_first() -> None:
    messages = [m for n in range(10) for m in turn(n)]
    per_turn = estimate_tokens(turn(0))
    fitted = fit_messages(messages, budget=int(per_turn * 3.5))
    assert fitted.left_out == 7 * 4
    assert fitted.messages == messages[-12:]  # the last three turns, each whole
    assert isinstance(fitted.messages[0], HumanMessage)


def test_a_long_current_turn_keeps_its_question_and_newest_tool_steps_in_pairs() -> None:
    question = HumanMessage("Sum the files.")
    steps: list[AnyMessage] = []
    for i in range(12):
        ids = [f"a{i}", f"b{i}"]  # two parallel calls per step: a step is kept or left whole
        steps.append(
            AIMessage("", tool_calls=[{"name": "read", "args": {"i": i}, "id": x} for x in ids])
        )
        steps += [ToolMessage("data " * 300, tool_call_id=x, name="read") for x in ids]
    messages = [*turn(0), question, *steps]
    fitted = fit_messages(messages, budget=estimate_tokens(steps[:6]) + 50)
    kept = fitted.messages
    assert kept[0] is question
    assert kept[1:] == steps[-6:]  # the two newest steps, each call with both its results
    assert fitted.left_out == len(messages) - len(kept)


def valid_conversation(body: dict[str, Any]) -> str | None:
    """What is wrong with a request as a chat conversation, or None."""
    msgs = [m for m in body["messages"] if m["role"] != "system"]
    if not msgs or msgs[0]["role"] != "user":
        return "does not start with a question"
    open_calls: set[str] = set()
    for m in msgs:
        if m["role"] == "assistant":
            if open_calls:
                return f"calls without results: {open_calls}"
            open_calls = {c["id"] for c in m.get("tool_calls") or ()}
        elif m["role"] == "tool":
            if m["tool_call_id"] not in open_calls:
                return f"a result without its call: {m['tool_call_id']}"
            open_calls.discard(m["tool_call_id"])
    return None


def test_a_thread_ten_times_the_context_still_answers(settings: Settings) -> None:
    problems: list[str] = []

    def respond(body: dict[str, Any]) -> Response:
        wrong = valid_conversation(body)
        if wrong:
            problems.append(wrong)
        last = body["messages"][-1]
        if last["role"] == "user":  # a new question: one calculator call, then the answer
            return call("calculator", expression="2 + 2")
        return reply("It is 4. " + "Some working. " * 20)

    context = 2048
    with ScriptedServer(responder=respond, max_model_len=context, enforce_context=True) as llm:
        small = settings.model_copy(update={"llm_base_url": llm.url, "max_tokens": 256})
        with Agent(small, tools=[make_calculator_tool()]) as agent:
            for n in range(70):
                question = f"Question {n}: " + "Tell me about the ledger entries. " * 30
                assert agent.run(question, thread_id="long").answer.startswith("It is 4.")
            history = agent.history("long")
        # the whole thread, sent as it is, is refused: the server enforces its context
        whole = to_openai_messages(history)
        with (
            openai.OpenAI(base_url=llm.url, api_key="x", max_retries=0) as client,
            pytest.raises(openai.BadRequestError, match="maximum context length is 2048"),
        ):
            client.chat.completions.create(model="scripted-model", messages=whole, max_tokens=256)
    assert problems == []
    assert all(prompt_tokens(r) + 256 <= context for r in llm.requests[:-1])  # none refused
    assert prompt_tokens({"messages": whole}) > 10 * context  # over ten contexts long
    assert len(history) == 70 * 4  # and keeps every message
    last = llm.requests[-2]  # the agent's last
    assert "Question 69" in json.dumps(last["messages"])
    assert "earlier messages of this conversation are not shown" in last["messages"][0]["content"]


def echo_or_answer(body: dict[str, Any]) -> Response:
    if body["messages"][-1]["role"] == "user":
        return reply("Noted. " + "Some working. " * 10)
    return reply("unexpected")


def run_a_long_thread(llm: ScriptedServer, settings: Settings, turns: int) -> list[str]:
    small = settings.model_copy(update={"llm_base_url": llm.url, "max_tokens": 256})
    answers = []
    with Agent(small, tools=[]) as agent:
        for n in range(turns):
            question = f"Question {n}: " + "Tell me about the ledger entries. " * 20
            answers.append(agent.run(question, thread_id="long").answer)
    return answers


def test_a_denser_tokenizer_than_estimated_is_met_by_sending_less(settings: Settings) -> None:
    """The budget estimates 3 characters a token; a server whose tokenizer packs fewer (here
    1.5, as for Chinese) refuses the request, and the call is made again with less."""
    with ScriptedServer(
        responder=echo_or_answer, max_model_len=2048, enforce_context=True, chars_per_token=1.5
    ) as llm:
        answers = run_a_long_thread(llm, settings, turns=20)
        refused = [r for r in llm.requests if prompt_tokens(r, 1.5) + 256 > 2048]
    assert all(a.startswith("Noted.") for a in answers)
    assert refused  # the estimate was wrong for this server, and that was met
    assert len(llm.requests) - len(refused) == 20  # one answered call per turn


def test_a_server_that_does_not_report_its_context_is_met_the_same_way(
    settings: Settings,
) -> None:
    with ScriptedServer(
        responder=echo_or_answer, model="unlisted", max_model_len=2048, enforce_context=True
    ) as llm:  # /models lists another model: the agent learns no context length
        answers = run_a_long_thread(llm, settings, turns=20)
    assert all(a.startswith("Noted.") for a in answers)
