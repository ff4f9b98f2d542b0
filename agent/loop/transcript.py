"""Reading a thread's messages: the run in progress, calls a stopped run left open, the result.

A thread is one list of messages; a run is everything after its question (the last human
message). These functions keep that list valid for the next call and turn a run into the
``RunResult`` the API returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage

from agent.events import RunResult, ToolCallRecord, ToolCallRequest, Usage
from agent.loop.agreement import AGREEMENT, describe_agreement
from agent.loop.final_answer import FINAL_ANSWER
from agent.loop.output import OutputSpec
from agent.loop.prompts import SETTLED
from agent.tooling import Sourced

INTERRUPTED = "Cancelled: the previous run stopped before this call ran."
# The name of the user-role message that sends an answer's failed checks back to the model: part
# of the run it checks, not a new question.
ANSWER_CHECK = "answer_check"


def is_question(m: BaseMessage) -> bool:
    """A question from the user (a human message that is not an answer check)."""
    return isinstance(m, HumanMessage) and m.name != ANSWER_CHECK


def current_run(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The messages of the run in progress: everything after the last question."""
    for i in range(len(messages) - 1, -1, -1):
        if is_question(messages[i]):
            return list(messages[i + 1 :])
    return list(messages)


def first_question(messages: Sequence[AnyMessage]) -> str:
    return next((m.text for m in messages if is_question(m)), "")


def check_problems(run: Sequence[AnyMessage]) -> list[str]:
    """What the answer checks of a run found wrong, in order: what went back to the model,
    then what the check settled itself (``agent.loop.settle``)."""
    found: list[str] = []
    for m in run:
        if isinstance(m, HumanMessage) and m.name == ANSWER_CHECK:
            found += [str(p) for p in m.additional_kwargs.get("problems", [])]
        elif isinstance(m, AIMessage):  # settled: the check's value ends the answer
            found += [str(p) for p in m.response_metadata.get(SETTLED, [])]
    return found


def uncommitted_messages(tasks: Sequence[Any]) -> list[AnyMessage]:
    """Messages of steps that finished in a run cut short (cancelled) before its commit.

    The state snapshot shows them, but a new input starts from the last commit and would drop
    them, leaving the tool calls they answer unanswered: carry them into the new input.
    """
    out: list[AnyMessage] = []
    for task in tasks:
        if isinstance(task.result, dict) and isinstance(task.result.get("messages"), list):
            out.extend(task.result["messages"])
    return out


def close_interrupted_calls(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """Tool messages answering the calls a stopped run left open (the API requires an answer).

    A tool step saves all its messages at once, so only a trailing AI message can have
    unanswered calls.
    """
    last = messages[-1] if messages else None
    return not_run(last, INTERRUPTED) if isinstance(last, AIMessage) else []


def not_run(ai: AIMessage, reason: str) -> list[AnyMessage]:
    """An error tool message for each call of ``ai``: the calls were not run, and why."""
    ids = [c["id"] for c in ai.tool_calls] + [c["id"] for c in ai.invalid_tool_calls]
    return [ToolMessage(reason, tool_call_id=i or "", status="error") for i in ids]


def pending_calls(interrupts: Iterable[Any]) -> list[ToolCallRequest]:
    """The calls a stopped run waits on a person's decision for (its LangGraph interrupts)."""
    return [
        ToolCallRequest(p["call_id"], p["name"], dict(p["arguments"]))
        for i in interrupts
        if isinstance(i.value, dict)
        for p in i.value.get("pending", ())
    ]


def run_result(
    state: Mapping[str, Any], thread_id: str, output: OutputSpec | None = None
) -> RunResult[Any]:
    """The ``RunResult`` of the last run in a graph state; with ``output``, its
    ``structured`` is the run's output as a typed value."""
    pending = pending_calls(state.get("__interrupt__", ()))
    messages: list[AnyMessage] = list(state.get("messages", []))
    run = current_run(messages)
    answer = state.get("answer")
    last = run[-1] if run else None
    if pending:
        answer = ""
    elif answer is None:
        answer = last.text if isinstance(last, AIMessage) else ""
    warnings: list[str] = []
    if isinstance(last, AIMessage) and last.response_metadata.get("finish_reason") == "length":
        warnings.append(
            "the answer was cut off by the server's length limit (max_tokens, AGENT_MAX_TOKENS): "
            "it is incomplete"
        )
    agreed = None
    if isinstance(last, AIMessage) and (note := last.response_metadata.get(AGREEMENT)):
        agreed = describe_agreement(note) if note.get("replaced") else None
    for m in run:
        if isinstance(m, AIMessage) and m.response_metadata.get("fallback"):
            warnings.append(str(m.response_metadata["fallback"]))
    usage = state.get("usage") or {}
    structured = None
    if output is not None and not pending and state.get("output") is not None:
        structured = output.value(state["output"])
    return RunResult(
        answer=answer,
        thread_id=thread_id,
        steps=int(state.get("steps", 0)),
        usage=Usage(
            usage.get("input_tokens", 0),
            usage.get("output_tokens", 0),
            usage.get("total_tokens", 0),
        ),
        tool_calls=_tool_call_records(run),
        messages=list[BaseMessage](messages),
        rescued=state.get("rescued"),
        corrected=check_problems(run),
        sources=_sources(run),
        agreed=agreed,
        warnings=warnings,
        pending=pending,
        structured=structured,
    )


def _sources(run: Sequence[AnyMessage]) -> list[str]:
    """The sources the run's tool results carry (``agent.tooling.Sourced``), each once."""
    found = (
        source
        for m in run
        if isinstance(m, ToolMessage) and m.status == "success"
        for source in Sourced.of(m)
    )
    return list(dict.fromkeys(found))


def _tool_call_records(run: Sequence[AnyMessage]) -> list[ToolCallRecord]:
    results = {m.tool_call_id: m for m in run if isinstance(m, ToolMessage)}
    records: list[ToolCallRecord] = []
    for m in run:
        if not isinstance(m, AIMessage):
            continue
        calls: list[tuple[str, str, dict[str, Any] | str]] = [
            (c["id"] or "", c["name"], c["args"]) for c in m.tool_calls
        ]
        calls += [(c["id"] or "", c["name"] or "", c["args"] or "") for c in m.invalid_tool_calls]
        for call_id, name, args in calls:
            if name == FINAL_ANSWER:  # how the run ended, reported as the answer instead
                continue
            tm = results.get(call_id)
            records.append(
                ToolCallRecord(
                    call_id=call_id,
                    name=name,
                    arguments=args,
                    content=str(tm.content) if tm else "",
                    is_error=tm is None or tm.status == "error",
                    duration_s=float(tm.response_metadata.get("duration_s", 0.0)) if tm else 0.0,
                )
            )
    return records
