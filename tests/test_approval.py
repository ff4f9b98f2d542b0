"""Approval across processes: a run stops before calls a person must approve, the thread keeps
them, and ``Agent.resume(decisions=...)`` continues it later, from another process too."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent import Agent, Approval, ConfigError, InputError, Settings, ToolCallRequest
from agent.testing import Response, ScriptedServer, call, calls
from agent.tooling import FunctionTool
from tests.test_api import AddArgs, make_tools

ROOT = Path(__file__).resolve().parents[1]
RAN: list[tuple[int, int]] = []


async def transfer(args: AddArgs) -> str:
    RAN.append((args.a, args.b))
    return f"moved {args.a} to account {args.b}"


def approval_tools() -> list[Any]:
    gated = FunctionTool(
        transfer, AddArgs, name="transfer", description="Move money.", needs_approval=True
    )
    return [*make_tools(), gated]


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


async def test_a_run_stops_before_a_call_that_needs_approval_and_resumes_on_approve(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    async with Agent(settings, tools=approval_tools()) as agent:
        scripted_llm.push(calls(("add", {"a": 1, "b": 2}), ("transfer", {"a": 50, "b": 7})))
        paused = await agent.arun("pay", thread_id="t")
        assert paused.answer == ""
        [pending] = paused.pending
        assert (pending.name, pending.arguments) == ("transfer", {"a": 50, "b": 7})
        assert RAN == []  # nothing ran: not even the call that needs no approval
        scripted_llm.push(Response(content="paid"))
        done = await agent.aresume("t", decisions={pending.call_id: Approval.approve()})
        assert (done.answer, done.pending) == ("paid", [])
        assert RAN == [(50, 7)]
        assert sorted(tool_results(scripted_llm.requests[-1])) == ["3", "moved 50 to account 7"]
        history = await agent.ahistory("t")
    assert [type(m) for m in history] == [
        HumanMessage,
        AIMessage,
        ToolMessage,
        ToolMessage,
        AIMessage,
    ]
    scripted_llm.assert_done()


async def test_a_rejected_call_tells_the_model_why_and_an_edited_one_is_validated(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    async with Agent(settings, tools=approval_tools()) as agent:
        scripted_llm.push(call("transfer", a=50, b=7))
        [first] = (await agent.arun("pay", thread_id="t")).pending
        scripted_llm.push(call("transfer", a=500, b=7))  # the model tries again
        retry = await agent.aresume("t", decisions={first.call_id: Approval.reject("too much")})
        assert "The user did not allow this call: too much" in tool_results(
            scripted_llm.requests[-1]
        )
        [second] = retry.pending
        # an edit that breaks the schema goes back to the model like any bad call
        scripted_llm.push(call("transfer", a=5, b=7))
        third = await agent.aresume("t", decisions={second.call_id: Approval.edit({"a": "x"})})
        assert "a" in tool_results(scripted_llm.requests[-1])[-1]
        assert RAN == []
        scripted_llm.push(Response(content="moved 5"))
        [last] = third.pending
        done = await agent.aresume("t", decisions={last.call_id: Approval.edit({"a": 5, "b": 8})})
        assert done.answer == "moved 5"
        assert RAN == [(5, 8)]  # the edited arguments ran, not the model's
    scripted_llm.assert_done()


async def test_decisions_must_match_the_pending_calls(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    async with Agent(settings, tools=approval_tools()) as agent:
        scripted_llm.push(call("transfer", a=1, b=2))
        [pending] = (await agent.arun("pay", thread_id="t")).pending
        with pytest.raises(
            InputError, match=f"waits for decisions on tool calls {pending.call_id}"
        ):
            await agent.aresume("t")
        with pytest.raises(InputError, match="no pending call 'nope'.*no decision for"):
            await agent.aresume("t", decisions={"nope": Approval.approve()})
        assert RAN == []
        # a new question instead: the pending call is closed as not run, the thread goes on
        scripted_llm.push(Response(content="ok"))
        assert (await agent.arun("never mind", thread_id="t")).answer == "ok"
        closed = [m for m in await agent.ahistory("t") if isinstance(m, ToolMessage)]
        assert [m.tool_call_id for m in closed] == [pending.call_id]
        with pytest.raises(InputError, match="no unfinished run"):
            await agent.aresume("t", decisions={pending.call_id: Approval.approve()})
    assert RAN == []
    scripted_llm.assert_done()


async def test_a_policy_picks_calls_for_approval_and_bad_calls_are_not_shown(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    def big_sums(request: ToolCallRequest) -> bool:
        return request.name == "add" and request.arguments.get("a", 0) > 100

    async with Agent(settings, tools=make_tools(), needs_approval=big_sums) as agent:
        scripted_llm.push(call("add", a=1, b=2), Response(content="3"))
        assert (await agent.arun("small", thread_id="s")).answer == "3"  # not asked
        scripted_llm.push(call("add", a="many", b=2))  # invalid: the model repairs it first
        scripted_llm.push(call("add", a=1000, b=2))
        [pending] = (await agent.arun("big", thread_id="b")).pending
        assert pending.arguments == {"a": 1000, "b": 2}
        scripted_llm.push(Response(content="1002"))
        assert (
            await agent.aresume("b", decisions={pending.call_id: Approval.approve()})
        ).answer == "1002"
    scripted_llm.assert_done()


def test_approval_needs_a_thread_store(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="transfer need approval.*not 'none'"):
        Agent(settings, tools=approval_tools(), persistence="none")


RESUMER = textwrap.dedent(
    """
    import json, sys
    from agent import Agent, Approval, Settings
    from tests.test_approval import approval_tools
    url, data, call_id = sys.argv[1:4]
    settings = Settings.load(llm_base_url=url, llm_model="scripted-model",
                             tool_call_mode="native", data_dir=data, mcp_servers=[],
                             cache_dir=data + "/cache", llm_max_retries=0)
    with Agent(settings, tools=approval_tools()) as agent:
        result = agent.resume("t", decisions={call_id: Approval.approve()})
    print(json.dumps({"answer": result.answer}))
    """
)


def test_another_process_resumes_with_the_decisions(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    with Agent(settings, tools=approval_tools()) as agent:
        scripted_llm.push(call("transfer", a=3, b=4))
        [pending] = agent.run("pay", thread_id="t").pending
    scripted_llm.push(Response(content="paid in the other process"))
    done = subprocess.run(
        [sys.executable, "-c", RESUMER, scripted_llm.url, str(settings.data_dir), pending.call_id],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"answer": "paid in the other process"' in done.stdout
    assert "moved 3 to account 4" in tool_results(scripted_llm.requests[-1])
    scripted_llm.assert_done()
