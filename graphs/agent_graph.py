"""The agent loop as a LangGraph state machine::

    START -> agent
             agent -> (agent | tools | END)   agent (``act``): one LLM call with the tools bound
                                              (before the first, the documents' excerpts for
                                              the question), then the calls it asked for
                                              (validated, run), then the check of an answer:
                                              wrong arithmetic, unused givens sent back; the
                                              answer as the run's output_type, if it has one
             tools -> (agent | check)         tools: calls that waited for a person's decision
             check -> (agent | END)           check: as in ``agent``, for a final_answer call
                                              among them

One superstep (and one checkpoint) per step of the model, not per LLM call, tool batch and check.

Budgets and limits are checked at the top of ``agent``, so the messages of the step that broke
one are already in the checkpoint when the run stops, and the error carries the whole transcript.
Each LLM call sends what of the thread fits the model's context (``agent.loop.fit_messages``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import partial
from typing import Any, Literal

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.errors import (
    AgentError,
    OutputValidationError,
    RepeatedToolCallError,
    RunError,
    UsageLimitExceededError,
)
from agent.events import (
    AgreementEvent,
    CheckEvent,
    RescueEvent,
    TokenEvent,
    ToolCallEvent,
    ToolResultEvent,
    decided_hook,
)
from agent.llm import REPEATED
from agent.loop import (
    ANSWER_CHECK,
    FINAL_ANSWER,
    RESCUE_PROMPT,
    AnswerStream,
    WrittenCallFilter,
    add_usage,
    awaiting_approval,
    budget_error,
    check_feedback,
    complete_by_agreement,
    complete_within,
    current_run,
    cut_written_call,
    is_question,
    limit_error,
    not_run,
    output_feedback,
    output_prompt,
    recover_tool_calls,
    run_tool_calls,
    second_opinions,
    settle,
)
from agent.text import frame_untrusted
from graphs.agent_state import AgentContext, AgentState, Prefetch, make_context

__all__ = [  # the state and context live in graphs.agent_state; agent.api imports them here
    "AgentContext",
    "AgentState",
    "Prefetch",
    "build_agent_graph",
    "make_context",
    "route_after_check",
    "route_after_model",
    "route_after_tools",
]


async def _complete(
    ctx: AgentContext, messages: list[AnyMessage], *extra: BaseMessage, **kwargs: Any
) -> AIMessage:
    """One LLM call on the system prompt and what of the thread fits the context."""
    return await complete_within(
        ctx.llm, ctx.system_prompt, messages, extra, ctx.history_budget, **kwargs
    )


async def _rescue(
    state: AgentState,
    ctx: AgentContext,
    budget: RunError,
    writer: Any,
    found: Sequence[AnyMessage] = (),
) -> dict[str, Any]:
    """A budget ran out, or the model replied with nothing: one more call with tools off, for
    an answer from what the run has (``found``: this step's prefetched search). After the
    check sent a rescued answer back, its feedback is the request, and an empty revision
    leaves the answer it revised. The budget's error only if there is no answer at all."""
    writer(RescueEvent(str(budget)))
    shown = WrittenCallFilter(ctx.tools.names, lambda text: writer(TokenEvent(text)))
    on_token = shown.feed if ctx.stream_tokens else None
    messages = [*state["messages"], *found]
    last = messages[-1]
    revising = isinstance(last, HumanMessage) and last.name == ANSWER_CHECK
    ask = () if revising else (HumanMessage(RESCUE_PROMPT),)
    ai = await _complete(ctx, messages, *ask, tools=[], on_token=on_token)
    shown.close()
    ai = ai.model_copy(update={"content": cut_written_call(ai.text, ctx.tools.names)})
    answer = ai.text.strip()
    if not answer and revising:
        revised = next(m for m in reversed(messages) if isinstance(m, AIMessage))
        ai = ai.model_copy(update={"content": revised.content})
        answer = revised.text.strip()
    if not answer:
        raise budget
    return {
        "messages": [*found, ai],
        "steps": state["steps"] + 1,
        "usage": add_usage(state["usage"], ai),
        "answer": answer,
        "rescued": str(budget),
    }


async def _prefetched(state: AgentState, runtime: Runtime[AgentContext]) -> list[AnyMessage]:
    """Search the documents for the question before the model's first step; what is close to
    it becomes a search call the model made and its result. Small models answer from memory
    rather than call a search tool; this way the excerpts are in front of them. Part of the
    first ``agent`` step rather than a node of its own: a node is a checkpoint per run."""
    ctx = runtime.context
    question = state["messages"][-1] if state["messages"] else None
    if ctx.prefetch is None or question is None or not is_question(question):
        return []
    name, prefetch = ctx.prefetch
    started = time.perf_counter()
    try:
        found = await prefetch(question.text)
    except AgentError:  # the store failed: the model can still call the tool and see why
        return []
    if found is None:
        return []
    call_id = f"prefetch_{uuid.uuid4().hex[:12]}"
    args = {"query": question.text.strip()[:1000]}
    content = frame_untrusted(found.text, source=name)
    runtime.stream_writer(ToolCallEvent(call_id, name, args))
    runtime.stream_writer(
        ToolResultEvent(call_id, name, content, False, time.perf_counter() - started)
    )
    result = ToolMessage(content, tool_call_id=call_id, name=name, status="success")
    found.mark(result)
    return [AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}]), result]


async def call_model(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    limit = limit_error(state["usage"], state["messages"], ctx.settings)
    if limit is not None:
        raise limit
    budget = budget_error(
        state["messages"], state["steps"], state["repairs"], state.get("stopped"), ctx.settings
    )
    if budget is not None:
        return await _rescue(state, ctx, budget, runtime.stream_writer)
    found = await _prefetched(state, runtime) if state["steps"] == 0 else []
    on_token, on_tool_args, shown = None, None, None
    if ctx.stream_tokens:
        writer = runtime.stream_writer
        if ctx.mode != "required":  # a call the model writes in its text is not shown as text
            shown = WrittenCallFilter(ctx.tools.names, lambda text: writer(TokenEvent(text)))
            on_token = shown.feed
        else:  # the answer arrives as final_answer's argument: stream it from there
            answers: dict[int, AnswerStream] = {}

            def on_tool_args(index: int, name: str | None, piece: str) -> None:
                if name == FINAL_ANSWER:
                    text = answers.setdefault(index, AnswerStream()).feed(piece)
                    if text:
                        writer(TokenEvent(text))

    tool_choice: str | dict[str, Any] = "required" if ctx.mode == "required" else "auto"
    repair = state.get("repair_tool")
    if repair and ctx.named_choice and ctx.tool_specs:  # guided decoding makes it valid
        tool_choice = {"type": "function", "function": {"name": repair}}
    messages = [*state["messages"], *found]
    settings = ctx.settings
    opinions = None
    if ctx.run_program is not None:  # answer_program
        opinions = second_opinions(ctx.llm, messages, ctx.run_program, ctx.history_budget)
    samples = settings.answer_samples if ctx.llm.samples else 0
    if ctx.mode == "native" and not repair and (samples or opinions):
        ai = await complete_by_agreement(
            partial(_complete, ctx, messages),
            samples=samples,
            opinions=opinions,
            temperature=settings.answer_sample_temperature,
            tool_names=ctx.tools.names,
            on_token=on_token,
            tools=ctx.tool_specs,
            tool_choice=tool_choice,
            on_replaced=lambda note: runtime.stream_writer(AgreementEvent(note)),
        )
    else:
        ai = await _complete(
            ctx,
            messages,
            tools=ctx.tool_specs,
            tool_choice=tool_choice,
            on_token=on_token,
            on_tool_args=on_tool_args,
        )
    if shown is not None:
        shown.close()
    if not ai.tool_calls and not ai.invalid_tool_calls and isinstance(ai.content, str):
        names = {*ctx.tools.names, FINAL_ANSWER} if ctx.mode == "required" else ctx.tools.names
        recovered = recover_tool_calls(ai.content, names)
        kept = "" if recovered else cut_written_call(ai.content, names)  # a broken call
        if kept != ai.content:
            ai = ai.model_copy(update={"tool_calls": recovered, "content": kept})
    unusable = None  # a reply that is no step: rescued like a spent budget
    if not ai.tool_calls and not ai.invalid_tool_calls and not ai.text.strip():
        # no text, no call (or only a next turn it wrote on, which the client cut off)
        unusable = "the model's reply had no text and no tool call"
    elif not ai.tool_calls and ai.response_metadata.get("finish_reason") == REPEATED:
        # what it wrote before the loop is not taken for an answer
        unusable = (
            "the model's reply repeated one passage until the server stopped it "
            f"(AGENT_REPEAT_STOP={ctx.settings.repeat_stop})"
        )
    if unusable is not None:
        spent: AgentState = {**state, "usage": add_usage(state["usage"], ai)}
        why = RunError(unusable, transcript=messages)
        return await _rescue(spent, ctx, why, runtime.stream_writer, found)
    return {
        "messages": [*found, ai],
        "steps": state["steps"] + 1,
        "usage": add_usage(state["usage"], ai),
        "repair_tool": None,
    }


async def call_tools(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ai = state["messages"][-1]
    assert isinstance(ai, AIMessage)
    ctx = runtime.context
    made = state.get("tool_calls") or 0
    asked = sum(c["name"] != FINAL_ANSWER for c in [*ai.tool_calls, *ai.invalid_tool_calls])
    limit = ctx.settings.max_tool_calls
    if limit is not None and made + asked > limit:
        raise UsageLimitExceededError(
            f"the model asked for {asked} more tool call(s) after {made}, past the run's limit "
            f"of {limit} (AGENT_MAX_TOOL_CALLS); they were not run",
            limit="max_tool_calls",
            transcript=state["messages"],
        )
    approve = ctx.approve
    if approve is None:
        pending = awaiting_approval(ai, ctx.tools, ctx.approval_policy)
        if pending:
            # The run stops here and the thread keeps the calls; Agent.resume(decisions=...)
            # re-enters this node, where interrupt() returns the decisions.
            decisions = interrupt({"pending": [asdict(r) for r in pending]})
            approve = decided_hook(pending, decisions)
    try:
        step = await run_tool_calls(
            ai,
            earlier=current_run(state["messages"])[:-1],
            tools=ctx.tools,
            settings=ctx.settings,
            mode=ctx.mode,
            approve=approve,
            emit=runtime.stream_writer,
            transcript=state["messages"],
        )
    except RepeatedToolCallError as exc:  # the calls are not run; the model answers instead
        return {"messages": not_run(ai, "Not run: " + str(exc)), "stopped": str(exc)}
    update: dict[str, Any] = {
        "messages": step.messages,
        "repairs": state["repairs"] + step.failures,
        "repair_tool": step.repair,
        "tool_calls": made + asked,
    }
    if step.answer is not None:
        update["answer"] = step.answer
    return update


def _answer_text(state: AgentState) -> str:
    """The text of the answer just given, with its working (final_answer's arguments)."""
    ai = next(m for m in reversed(state["messages"]) if isinstance(m, AIMessage))
    parts: list[str] = [str(ai.text)]
    for call in ai.tool_calls:
        if call["name"] == FINAL_ANSWER:
            parts += [str(v) for v in call["args"].values()]
    return "\n".join(parts)


async def check_answer(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Check the answer (``AgentCore.check_answer`` by default); send what is wrong back to the
    model, at most ``answer_checks`` times a run (a rescued answer too: its revision is one
    more call with tools off, as the budget is spent); after that the check's values may end
    it (``_settled``). An answer that stands becomes the run's output (``_output``)."""
    ctx = runtime.context
    checks = state.get("checks") or 0
    if ctx.check_answer is None:
        return await _output(state, ctx)
    found = await ctx.check_answer(_answer_text(state), state["messages"])
    if not found:
        return await _output(state, ctx)
    if checks >= ctx.settings.answer_checks:  # no revision left
        return await _settled(state, ctx, found, runtime.stream_writer)
    runtime.stream_writer(CheckEvent(problems := [str(p) for p in found]))
    feedback = HumanMessage(
        check_feedback(found), name=ANSWER_CHECK, additional_kwargs={"problems": problems}
    )
    return {"messages": [feedback], "checks": checks + 1, "answer": None}


async def _settled(
    state: AgentState, ctx: AgentContext, found: Sequence[object], writer: Any
) -> dict[str, Any]:
    """An answer the check found wrong but may not send back: when its value is one the check
    knows the right value of, a line with it ends the answer (``agent.loop.settle``)."""
    last = state["messages"][-1]
    ai = settle(last, found) if isinstance(last, AIMessage) and not last.tool_calls else None
    if ai is None:
        return await _output(state, ctx)
    if ctx.stream_tokens:
        writer(TokenEvent(ai.text[len(last.text) :]))
    answer = ai.text.strip() if state.get("answer") is not None else None  # a rescue's
    settled: AgentState = {**state, "answer": answer, "messages": [*state["messages"][:-1], ai]}
    return {"messages": [ai], "answer": answer, **await _output(settled, ctx)}


async def _output(state: AgentState, ctx: AgentContext) -> dict[str, Any]:
    """The final answer as the run's ``output_type``: as it is when it already is JSON of the
    right shape, else from one more call with tools off and the schema as ``response_format``
    (vLLM's guided decoding); what fails validation goes back with the field errors, at most
    ``max_repairs`` times. Nothing is added to the thread but the output."""
    spec = ctx.output
    if spec is None:
        return {}
    run = current_run(state["messages"])
    last = next((m for m in reversed(run) if isinstance(m, AIMessage)), None)
    answer = state.get("answer") or (last.text if last is not None else "")
    data, problems = spec.parse(answer)
    if not problems:
        return {"output": data}
    asked: list[BaseMessage] = [HumanMessage(output_prompt(spec))]
    steps, usage = state["steps"], state["usage"]
    for _ in range(ctx.settings.max_repairs + 1):
        limit = limit_error(usage, state["messages"], ctx.settings)
        if limit is not None:
            raise limit
        ai = await _complete(
            ctx,
            state["messages"],
            *asked,
            tools=[],
            response_format=spec.response_format(),
        )
        steps, usage = steps + 1, add_usage(usage, ai)
        data, problems = spec.parse(ai.text)
        if not problems:
            return {"output": data, "steps": steps, "usage": usage}
        asked += [ai, HumanMessage(output_feedback(problems))]
    raise OutputValidationError(
        f"the model's output did not match output_type {spec.name!r} after "
        f"{ctx.settings.max_repairs + 1} tries (AGENT_MAX_REPAIRS={ctx.settings.max_repairs}):\n"
        + "\n".join(problems),
        errors=problems,
        transcript=[*state["messages"], *asked],
    )


async def act(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """One step, one superstep: the LLM call, the tool calls it asked for, and the check of an
    answer. A superstep is a checkpoint: saving one per LLM call, tool batch and check was most
    of what the thread store cost (``bench/loop_overhead.py``); the price is that a step
    killed while its tools run is redone from its LLM call. Calls that wait for a person's
    decision end the step; the ``tools`` node asks for the decisions (``interrupt``), so a
    resume does not call the model again."""
    update = await call_model(state, runtime)
    ai = update["messages"][-1]
    if ai.id is None:  # the check may settle this answer: its copy must replace it, by id
        ai.id = str(uuid.uuid4())
    if isinstance(ai, AIMessage) and (ai.tool_calls or ai.invalid_tool_calls):
        ctx = runtime.context
        if ctx.approve is None and awaiting_approval(ai, ctx.tools, ctx.approval_policy):
            return update
        update = _then(update, await call_tools(_then(state, update), runtime))  # type: ignore[arg-type]
        if update.get("answer") is None:
            return update
    return _then(update, await check_answer(_then(state, update), runtime))  # type: ignore[arg-type]


def _then(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """``first`` (a state or an update) with the update ``second`` applied after it: its
    messages appended, its other keys replacing ``first``'s."""
    messages = [*first.get("messages", []), *second.get("messages", [])]
    return {**first, **second, "messages": messages}


def route_after_model(state: AgentState) -> Literal["agent", "tools", "__end__"]:
    """After ``act``: calls that wait for a decision go to ``tools``; tool results or a check's
    feedback go back to the model; an answer that passed the check ends the run."""
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and (last.tool_calls or last.invalid_tool_calls):
        return "tools"
    if isinstance(last, ToolMessage) and state.get("answer") is None:
        return "agent"
    return route_after_check(state)


def route_after_tools(state: AgentState) -> Literal["agent", "check"]:
    return "check" if state.get("answer") is not None else "agent"


def route_after_check(state: AgentState) -> Literal["agent", "__end__"]:
    last = state["messages"][-1]
    return "agent" if isinstance(last, HumanMessage) and last.name == ANSWER_CHECK else "__end__"


def build_agent_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[AgentState, AgentContext, Any, Any]:
    builder = StateGraph(AgentState, context_schema=AgentContext)
    builder.add_node("agent", act)
    builder.add_node("tools", call_tools)
    builder.add_node("check", check_answer)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges(
        "agent", route_after_model, {"agent": "agent", "tools": "tools", END: END}
    )
    builder.add_conditional_edges("tools", route_after_tools, {"agent": "agent", "check": "check"})
    builder.add_conditional_edges("check", route_after_check, {"agent": "agent", END: END})
    return builder.compile(checkpointer=checkpointer)
