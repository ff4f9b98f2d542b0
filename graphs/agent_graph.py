"""The agent loop as a LangGraph state machine::

    START -> agent -> (tools | END)        agent: one LLM call with the tools bound
             tools -> (agent | END)        tools: validate + run the calls (END after final_answer)

Budgets are checked at the top of ``agent``, so the messages of the step that broke a budget are
already in the checkpoint when the run stops, and the error carries the whole transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, SystemMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agent.errors import RepairBudgetExceededError, StepBudgetExceededError
from agent.events import ApproveHook, TokenEvent
from agent.llm import LLMClient
from agent.loop import (
    FINAL_ANSWER,
    AnswerStream,
    current_run,
    final_answer_spec,
    recover_tool_calls,
    run_tool_calls,
)
from agent.settings import Settings, ToolCallMode
from agent.tooling import ToolRegistry


class AgentState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    steps: int  # LLM calls in the current run
    repairs: int  # failed tool calls in the current run
    usage: dict[str, int]  # tokens summed over the current run
    answer: str | None  # set by a valid final_answer call


@dataclass(frozen=True, slots=True)
class AgentContext:
    """What a run needs besides its state; passed per invocation, never checkpointed."""

    llm: LLMClient
    tools: ToolRegistry
    settings: Settings
    mode: ToolCallMode
    system_prompt: str
    tool_specs: list[dict[str, Any]]
    stream_tokens: bool = False
    approve: ApproveHook | None = None


def make_context(
    *,
    llm: LLMClient,
    tools: ToolRegistry,
    settings: Settings,
    system_prompt: str,
    stream_tokens: bool = False,
    approve: ApproveHook | None = None,
) -> AgentContext:
    mode = settings.resolved_tool_call_mode()
    specs = tools.openai_specs()
    if mode == "required":
        specs = [*specs, final_answer_spec()]
    return AgentContext(llm, tools, settings, mode, system_prompt, specs, stream_tokens, approve)


async def call_model(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    s = ctx.settings
    if state["repairs"] > s.max_repairs:
        raise RepairBudgetExceededError(
            f"the model's tool calls failed {state['repairs']} times in this run (repair budget "
            f"AGENT_MAX_REPAIRS={s.max_repairs}); the last errors are in the transcript",
            transcript=state["messages"],
        )
    if state["steps"] >= s.max_steps:
        raise StepBudgetExceededError(
            f"no final answer after {state['steps']} LLM calls (AGENT_MAX_STEPS={s.max_steps}); "
            "the model kept calling tools",
            transcript=state["messages"],
        )
    on_token, on_tool_args = None, None
    if ctx.stream_tokens:
        writer = runtime.stream_writer
        if ctx.mode == "native":

            def on_token(text: str) -> None:
                writer(TokenEvent(text))

        else:  # the answer arrives as final_answer's argument: stream it from there
            answers: dict[int, AnswerStream] = {}

            def on_tool_args(index: int, name: str | None, piece: str) -> None:
                if name == FINAL_ANSWER:
                    text = answers.setdefault(index, AnswerStream()).feed(piece)
                    if text:
                        writer(TokenEvent(text))

    messages: list[BaseMessage] = [SystemMessage(ctx.system_prompt), *state["messages"]]
    ai = await ctx.llm.complete(
        messages,
        tools=ctx.tool_specs,
        tool_choice="required" if ctx.mode == "required" else "auto",
        on_token=on_token,
        on_tool_args=on_tool_args,
    )
    if not ai.tool_calls and not ai.invalid_tool_calls and isinstance(ai.content, str):
        names = {*ctx.tools.names, FINAL_ANSWER} if ctx.mode == "required" else ctx.tools.names
        recovered = recover_tool_calls(ai.content, names)
        if recovered:
            ai = ai.model_copy(update={"tool_calls": recovered, "content": ""})
    usage = dict(state["usage"])
    for key, value in (ai.usage_metadata or {}).items():
        if isinstance(value, int):
            usage[key] = usage.get(key, 0) + value
    return {"messages": [ai], "steps": state["steps"] + 1, "usage": usage}


async def call_tools(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ai = state["messages"][-1]
    assert isinstance(ai, AIMessage)
    ctx = runtime.context
    step = await run_tool_calls(
        ai,
        earlier=current_run(state["messages"])[:-1],
        tools=ctx.tools,
        settings=ctx.settings,
        mode=ctx.mode,
        approve=ctx.approve,
        emit=runtime.stream_writer,
        transcript=state["messages"],
    )
    update: dict[str, Any] = {
        "messages": step.messages,
        "repairs": state["repairs"] + step.failures,
    }
    if step.answer is not None:
        update["answer"] = step.answer
    return update


def route_after_model(state: AgentState) -> Literal["tools", "__end__"]:
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and (last.tool_calls or last.invalid_tool_calls):
        return "tools"
    return "__end__"


def route_after_tools(state: AgentState) -> Literal["agent", "__end__"]:
    return "__end__" if state.get("answer") is not None else "agent"


def build_agent_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[AgentState, AgentContext, Any, Any]:
    builder = StateGraph(AgentState, context_schema=AgentContext)
    builder.add_node("agent", call_model)
    builder.add_node("tools", call_tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route_after_model, {"tools": "tools", END: END})
    builder.add_conditional_edges("tools", route_after_tools, {"agent": "agent", END: END})
    return builder.compile(checkpointer=checkpointer)
