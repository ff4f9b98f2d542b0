"""The agent loop end to end through the scripted OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from agent import Agent
from agent.errors import (
    LLMUnavailableError,
    RepairBudgetExceededError,
    RepeatedToolCallError,
    StepBudgetExceededError,
    ThreadError,
    ToolCrashedError,
    ToolError,
)
from agent.events import (
    Approval,
    ErrorEvent,
    FinalEvent,
    TokenEvent,
    ToolCallEvent,
    ToolCallRequest,
    ToolResultEvent,
)
from agent.settings import Settings
from agent.testing import ScriptedServer, call, calls, error, reply
from agent.tooling import FunctionTool
from tools.calculator import make_calculator_tool


class AddArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: int = Field(..., description="first addend")
    b: int = Field(..., description="second addend")


async def add(args: AddArgs) -> int:
    return args.a + args.b


class WaitArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def make_tools() -> list[FunctionTool[Any]]:
    return [
        FunctionTool(add, AddArgs, name="add", description="Add two integers."),
        make_calculator_tool(),
    ]


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] == "tool"]


def test_multi_step_loop_reaches_final_answer(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(
        call("add", a=2, b=3),
        call("calculator", expression="5 * 10"),
        reply("The result is 50."),
    )
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("Add 2 and 3, then multiply by 10.")
    scripted_llm.assert_done()
    assert result.answer == "The result is 50."
    assert [(c.name, c.content, c.is_error) for c in result.tool_calls] == [
        ("add", "5", False),
        ("calculator", "50", False),
    ]
    assert result.steps == 3
    assert result.usage.total_tokens == 75  # 3 calls x 25 tokens from the script
    # the model saw each tool result, answered under the id it used
    second, third = scripted_llm.requests[1], scripted_llm.requests[2]
    assert tool_messages(second)[-1]["content"] == "5"
    assert tool_messages(third)[-1]["content"] == "50"
    assert {t["function"]["name"] for t in second["tools"]} == {"add", "calculator"}
    assert second["tool_choice"] == "auto"


async def test_parallel_calls_run_concurrently(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    started: set[str] = set()
    both = asyncio.Event()

    async def rendezvous(args: WaitArgs) -> str:
        # Each call waits until the other has started: run one after the other, they would
        # time out instead.
        started.add(args.name)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 5)
        return f"{args.name} ok"

    tool = FunctionTool(rendezvous, WaitArgs, name="rendezvous", description="wait")
    scripted_llm.push(
        calls(("rendezvous", {"name": "a"}), ("rendezvous", {"name": "b"})), reply("both done")
    )
    async with Agent(settings, tools=[tool]) as agent:
        result = await agent.arun("go")
    scripted_llm.assert_done()
    assert [c.content for c in result.tool_calls] == ["a ok", "b ok"]
    assert [m["content"] for m in tool_messages(scripted_llm.requests[1])] == ["a ok", "b ok"]


def test_validation_error_goes_back_and_is_repaired(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(
        call("add", a="two", b=3, c=1),
        call("add", a=2, b=3),
        reply("5"),
    )
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("add 2 and 3")
    scripted_llm.assert_done()
    feedback = tool_messages(scripted_llm.requests[1])[0]["content"]
    assert "Invalid arguments for tool 'add'" in feedback
    assert "- a: " in feedback and 'given: "two"' in feedback
    assert "- c: unexpected field" in feedback
    assert [c.is_error for c in result.tool_calls] == [True, False]
    assert result.answer == "5"


def test_numeric_string_is_coerced_for_integer_field(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("add", a="2", b=3), reply("5"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("add")
    assert result.tool_calls[0].content == "5"


def test_malformed_json_arguments_are_reported(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("add", '{"a": 2, "b": '), call("add", a=2, b=2), reply("4"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("add")
    feedback = tool_messages(scripted_llm.requests[1])[0]["content"]
    assert "not valid JSON" in feedback
    # the broken call is replayed to the server under its id, so the conversation stays valid
    assistant = scripted_llm.requests[1]["messages"][2]
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"a": 2, "b": '
    assert result.answer == "4"


def test_repair_budget_runs_out(scripted_llm: ScriptedServer, settings: Settings) -> None:
    settings = settings.model_copy(update={"max_repairs": 1})
    # the rescue call (tools off) brings no answer either: then the budget's error stands
    scripted_llm.push(call("add", a="x", b=1), call("add", a="y", b=1), reply(""))
    with (
        Agent(settings, tools=make_tools()) as agent,
        pytest.raises(RepairBudgetExceededError) as info,
    ):
        agent.run("add")
    scripted_llm.assert_done()
    assert "AGENT_MAX_REPAIRS=1" in str(info.value)
    assert info.value.thread_id is not None
    # the transcript ends with the second failed attempt's error message
    assert "Invalid arguments" in str(info.value.transcript[-1].content)


def test_unknown_tool_is_named_with_the_alternatives(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("multiply", a=2, b=3), call("calculator", expression="2*3"), reply("6"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("2 times 3")
    feedback = tool_messages(scripted_llm.requests[1])[0]["content"]
    assert "Unknown tool 'multiply'" in feedback and "add, calculator" in feedback
    assert result.answer == "6"


def test_tool_error_goes_back_to_the_model(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("calculator", expression="1/0"), reply("undefined"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("1/0?")
    assert result.tool_calls[0].is_error
    assert "refused the call" in tool_messages(scripted_llm.requests[1])[0]["content"]


def test_unexpected_tool_exception_stops_the_run(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    async def broken(args: WaitArgs) -> str:
        raise KeyError("bug")

    tool = FunctionTool(broken, WaitArgs, name="broken", description="has a bug")
    scripted_llm.push(call("broken", name="x"))
    with Agent(settings, tools=[tool]) as agent, pytest.raises(ToolCrashedError) as info:
        agent.run("go")
    assert "KeyError" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)


@pytest.mark.parametrize(
    "content",
    [
        '{"name": "add", "arguments": {"a": 1, "b": 2}}',
        'Sure:\n```json\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n```',
        '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>',
    ],
)
def test_json_in_content_is_recovered_as_a_call(
    scripted_llm: ScriptedServer, settings: Settings, content: str
) -> None:
    scripted_llm.push(reply(content), reply("3"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("1+2")
    scripted_llm.assert_done()
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("add", {"a": 1, "b": 2})]
    assert result.answer == "3"


def test_json_naming_an_unknown_tool_stays_an_answer(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    text = '{"name": "weather", "arguments": {}}'
    scripted_llm.push(reply(text))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("json please")
    assert result.answer == text and result.tool_calls == []


def test_required_mode_ends_with_final_answer(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"tool_call_mode": "required"})
    scripted_llm.push(
        call("calculator", expression="(1234 + 5678) / 2"), call("final_answer", answer="3456")
    )
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("What is (1234 + 5678) / 2?")
    scripted_llm.assert_done()
    assert result.answer == "3456"
    assert [c.name for c in result.tool_calls] == ["calculator"]
    first = scripted_llm.requests[0]
    assert first["tool_choice"] == "required"
    assert "final_answer" in {t["function"]["name"] for t in first["tools"]}
    assert "final_answer" in first["messages"][0]["content"]


def test_required_mode_repairs_an_empty_final_answer(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"tool_call_mode": "required"})
    scripted_llm.push(call("final_answer", answer=""), call("final_answer", answer="42"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("?")
    assert "answer" in tool_messages(scripted_llm.requests[1])[0]["content"]
    assert result.answer == "42"


def test_step_budget_ends_a_runaway_loop(scripted_llm: ScriptedServer, settings: Settings) -> None:
    settings = settings.model_copy(update={"max_steps": 3})
    scripted_llm.push(*(call("add", a=i, b=1) for i in range(3)), reply(""))
    with (
        Agent(settings, tools=make_tools()) as agent,
        pytest.raises(StepBudgetExceededError) as info,
    ):
        agent.run("loop")
    scripted_llm.assert_done()
    assert "AGENT_MAX_STEPS=3" in str(info.value)
    assert len([m for m in info.value.transcript if m.type == "tool"]) == 3


def test_repeated_identical_call_is_stopped(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(*(call("add", a=1, b=1) for _ in range(3)), reply(""))
    with Agent(settings, tools=make_tools()) as agent, pytest.raises(RepeatedToolCallError) as info:
        agent.run("loop")
    scripted_llm.assert_done()
    assert "same arguments 3 times" in str(info.value)
    # the third call was not run: its tool message says so
    assert info.value.transcript[-1].type == "tool"
    assert "Not run" in str(info.value.transcript[-1].content)


def test_llm_down_is_clear_and_the_thread_resumes(tmp_path: Path) -> None:
    server = ScriptedServer([call("halt", name="x")]).start()
    port = server.port

    async def halt(args: WaitArgs) -> str:
        await asyncio.to_thread(server.stop)  # the LLM server dies mid-run
        return "halted"

    tools = [FunctionTool(halt, WaitArgs, name="halt", description="stop the server")]
    settings = Settings.load(
        llm_base_url=server.url,
        llm_model="m",
        tool_call_mode="native",
        llm_max_retries=0,
        data_dir=tmp_path,
    )
    with Agent(settings, tools=tools) as agent:
        with pytest.raises(LLMUnavailableError) as info:
            agent.run("go", thread_id="t1")
        history = agent.history("t1")
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "agent llm serve" in message
    assert info.value.url == settings.llm_base_url
    assert [m.type for m in history] == ["human", "ai", "tool"]  # nothing lost

    with (
        ScriptedServer([reply("finished")], port=port) as revived,
        Agent(settings, tools=tools) as agent,
    ):
        result = agent.resume("t1")
        revived.assert_done()
        roles = [m["role"] for m in revived.requests[0]["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert result.answer == "finished" and result.tool_calls[0].content == "halted"


def test_new_question_after_an_interrupted_run_closes_open_calls(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("add", a=1, b=1), error(400, "bad"), reply("ok"))
    settings = settings.model_copy(update={"max_steps": 10})
    with Agent(settings, tools=make_tools()) as agent:
        with pytest.raises(Exception, match="answered 400"):
            agent.run("first", thread_id="t")
        assert agent.run("second", thread_id="t").answer == "ok"
    roles = [m["role"] for m in scripted_llm.requests[2]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]


def test_stream_event_order(scripted_llm: ScriptedServer, settings: Settings) -> None:
    scripted_llm.push(call("add", a=1, b=2), reply("The sum is 3."))
    with Agent(settings, tools=make_tools()) as agent:
        events = list(agent.stream("1+2"))
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["tool_call", "tool_result"]
    assert kinds[-1] == "final"
    tokens = [e.text for e in events if isinstance(e, TokenEvent)]
    assert "".join(tokens) == "The sum is 3." and len(tokens) > 1
    call_event, result_event = events[0], events[1]
    assert isinstance(call_event, ToolCallEvent) and call_event.arguments == {"a": 1, "b": 2}
    assert isinstance(result_event, ToolResultEvent) and result_event.content == "3"
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.result.answer == "The sum is 3."
    assert final.result.usage.total_tokens == 50  # usage arrives in the stream too
    assert scripted_llm.requests[0]["stream"] is True


def test_stream_ends_with_an_error_event(scripted_llm: ScriptedServer, settings: Settings) -> None:
    scripted_llm.push(error(500, "boom"))
    with Agent(settings, tools=make_tools()) as agent:
        events = list(agent.stream("hi"))
    assert isinstance(events[-1], ErrorEvent)
    assert "answered 500: boom" in str(events[-1].error)


def test_thread_resumes_from_sqlite_in_a_new_agent(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("Nice to meet you, Ada."), reply("Your name is Ada."))
    with Agent(settings, tools=make_tools()) as agent:
        agent.run("My name is Ada.", thread_id="conv")
    with Agent(settings, tools=make_tools()) as agent:  # a "restart": new agent, same file
        result = agent.run("What is my name?", thread_id="conv")
        history = agent.history("conv")
    sent = [m["content"] for m in scripted_llm.requests[1]["messages"]]
    assert sent[1:] == ["My name is Ada.", "Nice to meet you, Ada.", "What is my name?"]
    assert result.answer == "Your name is Ada." and len(history) == 4
    assert Path(settings.threads_db).exists()


def test_approval_refused_then_edited(scripted_llm: ScriptedServer, settings: Settings) -> None:
    seen: list[ToolCallRequest] = []

    async def approver(request: ToolCallRequest) -> Approval:
        seen.append(request)
        if len(seen) == 1:
            return Approval.refuse("not now")
        return Approval.edit({"a": 10, "b": 20})

    scripted_llm.push(call("add", a=1, b=2), call("add", a=1, b=2), reply("30"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("add", approve=approver)
    feedback = tool_messages(scripted_llm.requests[1])[0]["content"]
    assert "did not allow" in feedback and "not now" in feedback
    assert result.tool_calls[1].content == "30"


def test_no_persistence_needs_no_database(scripted_llm: ScriptedServer, settings: Settings) -> None:
    scripted_llm.push(reply("hi"))
    with Agent(settings, tools=[], persistence="none") as agent:
        assert agent.run("hello").answer == "hi"
        with pytest.raises(ThreadError):
            agent.resume("anything")
    assert not settings.threads_db.exists()


def test_tool_args_sent_to_the_server_are_json(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("add", a=1, b=1), reply("2"))
    with Agent(settings, tools=make_tools()) as agent:
        agent.run("1+1")
    assistant = scripted_llm.requests[1]["messages"][2]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"a": 1, "b": 1}


def test_tool_error_class_is_not_an_agent_error() -> None:
    from agent.errors import AgentError

    assert not issubclass(ToolError, AgentError)


def test_required_mode_streams_the_final_answer(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"tool_call_mode": "required"})
    scripted_llm.push(call("add", a=1, b=2), call("final_answer", answer="The sum is 3."))
    with Agent(settings, tools=make_tools()) as agent:
        events = list(agent.stream("1+2"))
    tokens = [e.text for e in events if isinstance(e, TokenEvent)]
    assert "".join(tokens) == "The sum is 3." and len(tokens) >= 2
    assert [e.kind for e in events][:2] == ["tool_call", "tool_result"]
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.result.answer == "The sum is 3."
