"""The agent loop as a LangGraph state machine::

    START -> agent -> (tools | END)        agent: one LLM call with the tools bound
             tools -> (agent | END)        tools: validate + run the calls (END after final_answer)

Budgets are checked at the top of ``agent``, so the messages of the step that broke a budget are
already in the checkpoint when the run stops, and the error carries the whole transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agent.errors import (
    RepairBudgetExceededError,
    RepeatedToolCallError,
    RunError,
    StepBudgetExceededError,
)
from agent.events import ApproveHook, TokenEvent
from agent.llm import LLMClient
from agent.loop import (
    FINAL_ANSWER,
    RESCUE_PROMPT,
    AnswerStream,
    current_run,
    final_answer_spec,
    not_run,
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
    answer: str | None  # set by a valid final_answer call, or by a rescue
    repair_tool: NotRequired[str | None]  # the next call must be to this tool (a repair)
    stopped: NotRequired[str | None]  # why tools are off: a budget ran out
    rescued: NotRequired[str | None]  # set when the answer came from a rescue call


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
    named_choice: bool = False  # the server constrains a call to a named tool


def make_context(
    *,
    llm: LLMClient,
    tools: ToolRegistry,
    settings: Settings,
    mode: ToolCallMode,
    system_prompt: str,
    stream_tokens: bool = False,
    approve: ApproveHook | None = None,
    named_choice: bool = False,
) -> AgentContext:
    specs = tools.openai_specs()
    if mode == "required":
        specs = [*specs, final_answer_spec()]
    return AgentContext(
        llm, tools, settings, mode, system_prompt, specs, stream_tokens, approve, named_choice
    )


def _budget_error(state: AgentState, s: Settings) -> RunError | None:
    if state.get("stopped"):
        return RepeatedToolCallError(str(state["stopped"]), transcript=state["messages"])
    if state["repairs"] > s.max_repairs:
        return RepairBudgetExceededError(
            f"the model's tool calls failed {state['repairs']} times in this run (repair budget "
            f"AGENT_MAX_REPAIRS={s.max_repairs}); the last errors are in the transcript",
            transcript=state["messages"],
        )
    if state["steps"] >= s.max_steps:
        return StepBudgetExceededError(
            f"no final answer after {state['steps']} LLM calls (AGENT_MAX_STEPS={s.max_steps}); "
            "the model kept calling tools",
            transcript=state["messages"],
        )
    return None


def _add_usage(state: AgentState, ai: AIMessage) -> dict[str, int]:
    usage = dict(state["usage"])
    for key, value in (ai.usage_metadata or {}).items():
        if isinstance(value, int):
            usage[key] = usage.get(key, 0) + value
    return usage


async def _rescue(
    state: AgentState, ctx: AgentContext, budget: RunError, writer: Any
) -> dict[str, Any]:
    """A budget ran out: one more call with tools off, for an answer from what the run has.
    The budget's error only if that yields no answer either."""
    on_token = (lambda text: writer(TokenEvent(text))) if ctx.stream_tokens else None
    messages: list[BaseMessage] = [
        SystemMessage(ctx.system_prompt),
        *state["messages"],
        HumanMessage(RESCUE_PROMPT),
    ]
    ai = await ctx.llm.complete(messages, tools=[], on_token=on_token)
    answer = ai.text.strip()
    if not answer:
        raise budget
    return {
        "messages": [ai],
        "steps": state["steps"] + 1,
        "usage": _add_usage(state, ai),
        "answer": answer,
        "rescued": str(budget),
    }


async def call_model(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    budget = _budget_error(state, ctx.settings)
    if budget is not None:
        return await _rescue(state, ctx, budget, runtime.stream_writer)
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

    tool_choice: str | dict[str, Any] = "required" if ctx.mode == "required" else "auto"
    repair = state.get("repair_tool")
    if repair and ctx.named_choice:  # guided decoding makes the repaired call valid
        tool_choice = {"type": "function", "function": {"name": repair}}
    messages: list[BaseMessage] = [SystemMessage(ctx.system_prompt), *state["messages"]]
    ai = await ctx.llm.complete(
        messages,
        tools=ctx.tool_specs,
        tool_choice=tool_choice,
        on_token=on_token,
        on_tool_args=on_tool_args,
    )
    if not ai.tool_calls and not ai.invalid_tool_calls and isinstance(ai.content, str):
        names = {*ctx.tools.names, FINAL_ANSWER} if ctx.mode == "required" else ctx.tools.names
        recovered = recover_tool_calls(ai.content, names)
        if recovered:
            ai = ai.model_copy(update={"tool_calls": recovered, "content": ""})
    return {
        "messages": [ai],
        "steps": state["steps"] + 1,
        "usage": _add_usage(state, ai),
        "repair_tool": None,
    }


async def call_tools(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ai = state["messages"][-1]
    assert isinstance(ai, AIMessage)
    ctx = runtime.context
    try:
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
    except RepeatedToolCallError as exc:  # the calls are not run; the model answers instead
        return {"messages": not_run(ai, "Not run: " + str(exc)), "stopped": str(exc)}
    update: dict[str, Any] = {
        "messages": step.messages,
        "repairs": state["repairs"] + step.failures,
        "repair_tool": step.repair,
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
