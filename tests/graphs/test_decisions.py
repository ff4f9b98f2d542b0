"""Each decision the loop makes, driven through the real Agent against a scripted server.

Rescue (a budget ran out: one more call with tools off), constrained repair (a named
tool_choice after a call failed validation), the tool-call mode from probing the server, the
answer check (wrong arithmetic sent back once), and a follow-up question on a thread.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from agent import (
    Agent,
    CheckEvent,
    FinalEvent,
    RescueEvent,
    RunError,
    Settings,
    StepBudgetExceededError,
    TokenEvent,
)
from agent.loop import FINAL_ANSWER, RESCUE_PROMPT, cached_profile, check_feedback
from agent.testing import Response, ScriptedServer, call, error, reply
from agent.tooling import FunctionTool
from tests.test_api import make_tools


def tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools", [])]


# ---- rescue -------------------------------------------------------------------------------


def test_step_budget_is_rescued_by_one_call_with_tools_off(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"max_steps": 2})
    scripted_llm.push(call("add", a=1, b=2), call("add", a=3, b=4), reply("The sum is 10."))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("add things")
    scripted_llm.assert_done()
    assert result.answer == "The sum is 10."
    assert result.rescued is not None and "AGENT_MAX_STEPS=2" in result.rescued
    rescue = scripted_llm.requests[-1]
    assert "tools" not in rescue and "tool_choice" not in rescue
    assert rescue["messages"][-1] == {"role": "user", "content": RESCUE_PROMPT}
    # the rescue prompt is not saved in the thread: the next question sees a clean history
    assert all(m.content != RESCUE_PROMPT for m in result.messages)


def test_a_normal_answer_is_not_marked_rescued(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("add", a=1, b=2), reply("3"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("1+2")
    assert result.answer == "3" and result.rescued is None


class KeyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    limit: int = 3


def counted_lookup(runs: list[str], *, deterministic: bool) -> FunctionTool[KeyArgs]:
    async def lookup(args: KeyArgs) -> str:
        runs.append(args.key)
        return f"value of {args.key}"

    return FunctionTool(
        lookup, KeyArgs, name="lookup", description="Look a key up.", deterministic=deterministic
    )


def test_a_call_the_run_has_the_result_of_is_pointed_at_it_not_run_again(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    runs: list[str] = []
    scripted_llm.push(
        call("lookup", key="a"),
        call("lookup", key="a", limit=3),  # the same call once its default is filled in
        call("lookup", key="a", type="object", required=["key"]),  # the schema copied in
        call("lookup", key="b"),
        reply("Done."),
    )
    with Agent(settings, tools=[counted_lookup(runs, deterministic=True)]) as agent:
        result = agent.run("look a and b up")
    scripted_llm.assert_done()
    assert runs == ["a", "b"] and result.answer == "Done."
    results = [str(m.content) for m in result.messages if m.type == "tool"]
    assert results[0] == results[3].replace("b", "a") == "value of a"
    for pointer in results[1:3]:
        assert pointer.startswith("You already have the result of this lookup call")
        assert pointer.endswith("It was: value of a")
    assert result.rescued is None  # not a mistake that spends the repair budget

    runs.clear()  # a tool that may answer otherwise the second time (polling) runs again
    scripted_llm.push(call("lookup", key="a"), call("lookup", key="a"), reply("Done."))
    with Agent(settings, tools=[counted_lookup(runs, deterministic=False)]) as agent:
        agent.run("look a up twice")
    assert runs == ["a", "a"]


def test_identical_call_loop_is_rescued_without_running_the_repeat(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(*(call("add", a=1, b=1) for _ in range(3)), reply("It is 2."))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("1+1")
    scripted_llm.assert_done()
    assert result.answer == "It is 2."
    assert result.rescued is not None and "same arguments 3 times" in result.rescued
    tool_results = [m for m in result.messages if m.type == "tool"]
    assert [m.content for m in tool_results[:2]] == ["2", "2"]
    assert str(tool_results[2].content).startswith("Not run")


def test_rescue_that_gives_nothing_raises_the_budget_error(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"max_steps": 1})
    scripted_llm.push(call("add", a=1, b=2), reply("   "))
    with (
        Agent(settings, tools=make_tools()) as agent,
        pytest.raises(StepBudgetExceededError, match="AGENT_MAX_STEPS=1"),
    ):
        agent.run("loop")
    scripted_llm.assert_done()


def test_a_reply_that_writes_the_next_turn_ends_where_that_turn_begins(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("It is 3.<|im_end|>\n<|im_start|>user\nAnd 2+2?"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("1+2")
        assert result.answer == "It is 3." and result.rescued is None
        # only a chat-template token ends a reply: plain text with < and | stays whole
        scripted_llm.push(reply("a <b> c | d"))
        assert agent.run("x").answer == "a <b> c | d"
    scripted_llm.assert_done()


def test_a_reply_the_server_stopped_for_repeating_itself_is_rescued(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    looped = "Step 1: read the docs.\n" + "The port is 8080.\n" * 4
    scripted_llm.push(reply(looped, finish_reason="repetition"), reply("It is 3."))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("1+2")
    scripted_llm.assert_done()
    assert result.answer == "It is 3." and result.rescued is not None
    assert "AGENT_REPEAT_STOP=4" in result.rescued
    rescue = scripted_llm.requests[-1]
    assert "tools" not in rescue and rescue["messages"][-1]["content"] == RESCUE_PROMPT
    assert all("8080" not in str(m["content"]) for m in rescue["messages"])  # not re-read

    scripted_llm.push(  # the rescue loops too: what it wrote, the loop once, is the answer
        reply(looped, finish_reason="repetition"), reply(looped, finish_reason="repetition")
    )
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("1+2")
    scripted_llm.assert_done()
    assert result.answer == "Step 1: read the docs.\nThe port is 8080."


async def test_the_stream_says_where_the_rescue_begins(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    # a client shown the looping text must learn it is not the answer before the answer comes
    looped = "The port is 8080.\n" * 4
    scripted_llm.push(reply(looped, finish_reason="repetition"), reply("It is 3."))
    async with Agent(settings, tools=make_tools()) as agent:
        events = [e async for e in agent.astream("1+2")]
    kinds = [e.kind for e in events]
    at = kinds.index("rescue")
    rescue = events[at]
    assert isinstance(rescue, RescueEvent) and "AGENT_REPEAT_STOP=4" in rescue.reason
    before = "".join(e.text for e in events[:at] if isinstance(e, TokenEvent))
    after = "".join(e.text for e in events[at:] if isinstance(e, TokenEvent))
    assert "8080" in before and after == "It is 3."
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.result.rescued == rescue.reason


async def test_an_empty_reply_or_only_a_leaked_turn_is_rescued(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    # seen from Qwen2.5-Coder-1.5B after three long search results
    leaked = "<|im_start|>\n<|endoftext|>Human: What is 1+2? End with the final number."
    scripted_llm.push(reply(leaked), reply("It is 3."))
    async with Agent(settings, tools=make_tools()) as agent:
        events = [e async for e in agent.astream("1+2")]  # the streamed path cuts it too
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.result.answer == "It is 3."
    assert final.result.rescued == "the model's reply had no text and no tool call"
    rescue = scripted_llm.requests[-1]
    assert "tools" not in rescue and rescue["messages"][-1]["content"] == RESCUE_PROMPT
    assert final.result.usage.total_tokens == 50  # 25 a scripted call: both counted
    scripted_llm.push(reply(""), reply(" "))
    async with Agent(settings, tools=make_tools()) as agent:
        with pytest.raises(RunError, match="no text and no tool call"):
            await agent.arun("1+2")
    scripted_llm.assert_done()


def test_required_mode_rescue_answers_in_text(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"tool_call_mode": "required", "max_steps": 1})
    scripted_llm.push(call("add", a=1, b=2), reply("3"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("1+2")
    assert result.answer == "3" and result.rescued is not None
    assert FINAL_ANSWER in tool_names(scripted_llm.requests[0])
    assert "tools" not in scripted_llm.requests[1]


def test_a_broken_call_after_the_answer_is_not_part_of_it(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    # Qwen2.5-Coder-1.5B ends right answers so: the last number a reader takes was top_k's
    broken = '```json\n{"name": "add", "arguments": {"a": 1, "b": 2, "top_k": 5}\n```'
    answer = "1 + 2 = 3, so the answer is 3."
    scripted_llm.push(reply(f"{answer}\n\nThe final answer is:\n{broken}"))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("1+2")
        assert result.answer == answer and result.rescued is None
        assert result.messages[-1].content == answer  # the thread keeps no broken call
        # a reply that is only a broken call is an empty reply: rescued, and the rescue's own
        # written call (tools are off) is cut too
        scripted_llm.push(reply(broken), reply(f"It is 3.\n{broken}"))
        result = agent.run("1+2 again")
        assert result.answer == "It is 3."
        assert result.rescued == "the model's reply had no text and no tool call"
    scripted_llm.assert_done()


# ---- constrained repair ---------------------------------------------------------------------


def test_failed_call_is_repaired_with_the_tool_named_in_tool_choice(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"repair_choice": "named"})
    scripted_llm.push(call("add", a="x", b=1), call("add", a=2, b=1), reply("3"))
    with Agent(settings, tools=make_tools()) as agent:
        assert agent.run("2+1").answer == "3"
    first, repair, after = scripted_llm.requests
    assert first["tool_choice"] == "auto"
    assert repair["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert after["tool_choice"] == "auto"  # constrained for the repair only


def test_repair_is_not_constrained_when_off_or_for_an_unknown_tool(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("add", a="x", b=1), call("add", a=2, b=1), reply("3"))
    with Agent(settings, tools=make_tools()) as agent:  # explicit mode, no probe: off
        agent.run("2+1")
    assert scripted_llm.requests[1]["tool_choice"] == "auto"

    named = settings.model_copy(update={"repair_choice": "named"})
    scripted_llm.push(call("subtract", a=2, b=1), call("add", a=2, b=1), reply("3"))
    with Agent(named, tools=make_tools()) as agent:
        agent.run("2+1")
    # naming a tool that does not exist would make the server fail the request
    assert scripted_llm.requests[4]["tool_choice"] == "auto"


# ---- the mode, probed --------------------------------------------------------------------------


def probe_responder(*, auto: str, named_ok: bool, answer: Response) -> Any:
    """Answers the probe's ``add`` requests as a server would; anything else with ``answer``.
    ``auto``: "parsed" (the server's parser makes tool_calls), "json" (the model writes the
    call as JSON text, which native mode recovers) or "prose" (no call at all)."""

    def respond(body: dict[str, Any]) -> Response:
        if tool_names(body) != ["add"]:
            return answer
        question = body["messages"][-1]["content"]
        a, b = (float(n) for n in re.findall(r"\d+(?:\.\d+)?", question)[:2])
        choice = body["tool_choice"]
        if isinstance(choice, dict) and not named_ok:
            return error(400, "named tool_choice is not supported")
        if choice == "auto" and auto == "json":
            return reply(f'{{"name": "add", "arguments": {{"a": {a:g}, "b": {b:g}}}}}')
        if choice == "auto" and auto == "prose":
            return reply("The sum is probably 42.")
        return call("add", a=a, b=b)

    return respond


@pytest.mark.parametrize(
    ("auto", "named_ok", "mode"),
    [
        ("parsed", True, "native"),
        ("json", True, "native"),
        ("prose", True, "required"),
        ("prose", False, "required"),
    ],
)
def test_auto_mode_follows_what_the_probe_measured(
    tmp_path: Path, auto: str, named_ok: bool, mode: str
) -> None:
    answer = call(FINAL_ANSWER, answer="ok") if mode == "required" else reply("ok")
    responder = probe_responder(auto=auto, named_ok=named_ok, answer=answer)
    with ScriptedServer(responder=responder) as llm:
        settings = Settings.load(
            llm_base_url=llm.url,
            llm_model="scripted-model",
            tool_call_mode="auto",
            cache_dir=tmp_path / "cache",
            data_dir=tmp_path / "data",
            llm_max_retries=0,
        )
        with Agent(settings, tools=make_tools(), persistence="none") as agent:
            assert agent.run("hi").answer == "ok"
        probes = [r for r in llm.requests if tool_names(r) == ["add"]]
        assert [p["tool_choice"] for p in probes][::2] == [
            "auto",
            "required",
            {"type": "function", "function": {"name": "add"}},
        ]
        run = llm.requests[len(probes)]
        assert run["tool_choice"] == ("auto" if mode == "native" else "required")
        assert (FINAL_ANSWER in tool_names(run)) == (mode == "required")

        profile = cached_profile(settings)
        assert profile is not None and profile.mode == mode
        assert profile.named_choice is named_ok
        # a second agent reads the cache: no probe requests this time
        before = len(llm.requests)
        with Agent(settings, tools=make_tools(), persistence="none") as agent:
            agent.run("hi")
        assert len(llm.requests) == before + 1


def test_probe_result_decides_constrained_repair(tmp_path: Path) -> None:
    script = iter([call("add", a="x", b=1), call("add", a=2, b=1), reply("3")])
    responder = probe_responder(auto="parsed", named_ok=True, answer=reply("unused"))

    def respond(body: dict[str, Any]) -> Response:
        return responder(body) if tool_names(body) == ["add"] else next(script)

    with ScriptedServer(responder=respond) as llm:
        settings = Settings.load(
            llm_base_url=llm.url,
            llm_model="scripted-model",
            cache_dir=tmp_path / "cache",
            data_dir=tmp_path / "data",
            llm_max_retries=0,
        )
        with Agent(settings, tools=make_tools(), persistence="none") as agent:
            assert agent.run("2+1").answer == "3"
        repair = llm.requests[-2]
    assert repair["tool_choice"] == {"type": "function", "function": {"name": "add"}}


# ---- the answer check ----------------------------------------------------------------------

WRONG = "First 3.79 + 4.5 = 8.38, then 8.38 / 2 = 4.19. The answer is 4.19."
RIGHT = "First 3.79 + 4.5 = 8.29, then 8.29 / 2 = 4.145. The answer is 4.145."


def test_wrong_arithmetic_goes_back_to_the_model_once_and_the_revision_is_the_answer(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply(WRONG), reply(RIGHT), reply("It is 3."))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("average of 3.79 and 4.5?")
        follow_up = agent.run("and 1+2?", thread_id=result.thread_id)
        first_question = agent.threads()[0].first_question
    scripted_llm.assert_done()
    assert result.answer == RIGHT
    assert result.corrected == ["3.79 + 4.5 = 8.29, not 8.38"]
    revision = scripted_llm.requests[1]["messages"]
    assert [m["role"] for m in revision] == ["system", "user", "assistant", "user"]
    assert revision[-1]["content"] == check_feedback(["3.79 + 4.5 = 8.29, not 8.38"])
    assert "tools" in scripted_llm.requests[1]  # the model may use the calculator to redo it
    # the check is part of the run it checked: the next question starts a new run
    assert follow_up.answer == "It is 3." and follow_up.corrected == []
    assert first_question == "average of 3.79 and 4.5?"


def test_the_check_runs_at_most_answer_checks_times(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply(WRONG), reply(WRONG))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("average?")
    scripted_llm.assert_done()
    assert result.answer == WRONG and len(result.corrected) == 1  # sent back once, then final

    scripted_llm.push(reply(WRONG))
    off = settings.model_copy(update={"answer_checks": 0})
    with Agent(off, tools=make_tools()) as agent:
        assert agent.run("average?").corrected == []
    scripted_llm.assert_done()


def test_a_right_answer_is_not_sent_back(scripted_llm: ScriptedServer, settings: Settings) -> None:
    scripted_llm.push(reply(RIGHT))
    with Agent(settings, tools=make_tools()) as agent:
        assert agent.run("average?").answer == RIGHT
    scripted_llm.assert_done()


def test_a_rescued_answer_is_revised_with_tools_off(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(call("add", a=1, b=2), reply(WRONG), reply(RIGHT))
    budget = settings.model_copy(update={"max_steps": 1})
    with Agent(budget, tools=make_tools()) as agent:
        result = agent.run("average?")
    scripted_llm.assert_done()
    assert result.rescued is not None and result.answer == RIGHT
    assert result.corrected == ["3.79 + 4.5 = 8.29, not 8.38"]
    revision = scripted_llm.requests[2]
    assert tool_names(revision) == []  # the budget is spent: still no tools
    assert revision["messages"][-1]["content"] == check_feedback(
        ["3.79 + 4.5 = 8.29, not 8.38"]
    )  # the feedback is the request, without the rescue's own prompt

    scripted_llm.push(call("add", a=1, b=2), reply(WRONG), reply(""))  # an empty revision
    with Agent(budget, tools=make_tools()) as agent:
        result = agent.run("average?")
    scripted_llm.assert_done()
    assert result.rescued is not None and result.answer == WRONG  # keeps what it revised


def test_a_revision_that_repeats_the_wrong_step_ends_with_the_calculators_value(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    repeated = "65536 / 16 = 4032, so the answer is 4032."
    scripted_llm.push(reply(repeated), reply(repeated))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("65536 / 16?")
        assert agent.history(result.thread_id)[-1].content == result.answer  # the thread too
    scripted_llm.assert_done()
    note = "(Checked with the calculator: 65536 / 16 = 4096, not 4032. The answer is 4096.)"
    assert result.answer == f"{repeated}\n\n{note}"
    assert result.corrected == ["65536 / 16 = 4096, not 4032"] * 2  # sent back, then settled

    scripted_llm.push(call("add", a=1, b=2), reply(repeated), reply(repeated))  # a rescue too
    budget = settings.model_copy(update={"max_steps": 1})
    with Agent(budget, tools=make_tools()) as agent:
        result = agent.run("65536 / 16?")
    scripted_llm.assert_done()
    assert result.rescued is not None and result.answer == f"{repeated}\n\n{note}"


def test_an_answers_program_is_run_and_a_made_up_output_goes_back(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    made_up = "```python\nprint(3 / 600 * 3600)\n```\nThis prints 30.0, so the answer is 30."
    scripted_llm.push(reply(made_up), reply("The program prints 18.0. The answer is 18."))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("renegotiations per hour?")
    scripted_llm.assert_done()
    assert result.answer == "The program prints 18.0. The answer is 18."
    assert result.corrected == ["the program in your answer prints 18, not 30"]
    assert (
        "it prints 18, but your answer says 30"
        in scripted_llm.requests[1]["messages"][-1]["content"]
    )

    scripted_llm.push(reply(made_up))  # programs are never run with answer_check_programs off
    off = settings.model_copy(update={"answer_check_programs": False})
    with Agent(off, tools=make_tools()) as agent:
        assert agent.run("renegotiations per hour?").corrected == []
    scripted_llm.assert_done()


def test_required_mode_checks_the_working_in_final_answer(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"tool_call_mode": "required"})
    scripted_llm.push(
        call(FINAL_ANSWER, reasoning="3.79 + 4.5 = 8.38", answer="8.38"),
        call(FINAL_ANSWER, reasoning="3.79 + 4.5 = 8.29", answer="8.29"),
    )
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("3.79 + 4.5?")
    scripted_llm.assert_done()
    assert result.answer == "8.29" and result.corrected == ["3.79 + 4.5 = 8.29, not 8.38"]
    assert scripted_llm.requests[1]["messages"][-1]["role"] == "user"


async def test_the_stream_says_the_answer_is_being_revised(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply(WRONG), reply(RIGHT))
    async with Agent(settings, tools=make_tools()) as agent:
        events = [e async for e in agent.astream("average?")]
    checks = [e for e in events if isinstance(e, CheckEvent)]
    assert checks == [CheckEvent(["3.79 + 4.5 = 8.29, not 8.38"])]
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.result.answer == RIGHT


# ---- threads -------------------------------------------------------------------------------


def test_a_follow_up_sees_the_previous_result(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(
        call("calculator", expression="17*23+4"),
        reply("17*23+4 = 395."),
        call("calculator", expression="395/5"),
        reply("395 / 5 = 79."),
    )
    with Agent(settings, tools=make_tools()) as agent:
        first = agent.run("What is 17*23+4?")
        second = agent.run("Now divide that by 5", thread_id=first.thread_id)
    scripted_llm.assert_done()
    follow_up = scripted_llm.requests[2]["messages"]
    # the model is shown the whole first exchange, its result included, before the follow-up
    assert [m["role"] for m in follow_up] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert follow_up[3]["content"] == "395" and "395" in follow_up[4]["content"]
    assert "earlier result" in follow_up[0]["content"]  # the prompt tells it to use the value
    assert second.answer == "395 / 5 = 79." and len(second.tool_calls) == 1
