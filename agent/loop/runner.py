"""One tool step: validate every call of an AI message, run them concurrently, report back.

The model's mistakes (unknown tool, arguments that are not JSON or fail the schema, a tool
refusing its input with ``ToolError``, a tool timing out) become error tool messages that say
exactly what to fix, and count against the run's repair budget. A tool raising anything else is
our failure, not the model's: it stops the run with ``ToolCrashedError``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from pydantic import BaseModel, ValidationError

from agent.errors import RepeatedToolCallError, ToolCrashedError, ToolError
from agent.events import (
    ApprovalPolicy,
    ApproveHook,
    ToolCallEvent,
    ToolCallRequest,
    ToolResultEvent,
)
from agent.loop.final_answer import FINAL_ANSWER, FinalAnswerArgs
from agent.settings import Settings, ToolCallMode
from agent.text import frame_untrusted
from agent.tooling import (
    FieldError,
    Sourced,
    Tool,
    ToolArgumentsError,
    ToolRegistry,
    decode_arguments,
    pydantic_field_errors,
    render_output,
)
from agent.tracing import mark_error, span

Emit = Callable[[Any], None]

_REPAIR_HINT = "Fix the arguments and call the tool again."


@dataclass(frozen=True, slots=True)
class ToolStep:
    messages: list[ToolMessage]
    failures: int  # calls that went back to the model as errors
    answer: str | None  # from a valid final_answer call
    repair: str | None = None  # the one known tool whose arguments failed validation


@dataclass(frozen=True, slots=True)
class _Outcome:
    message: ToolMessage
    failed: bool
    answer: str | None = None
    bad_arguments: bool = False  # failed validation: a constrained repair can fix it


def call_shape(tool: Tool) -> str:
    """A one-line reminder of the arguments a tool takes, e.g.
    ``Arguments: {"query": string, "top_k"?: integer}`` (``?`` = optional). Small models repair
    a call far more often when shown the expected shape than from the field errors alone."""
    schema = tool.parameters_schema()
    required = set(schema.get("required", ()))
    parts = []
    for key, sub in (schema.get("properties") or {}).items():
        kind = sub.get("type", "value") if isinstance(sub, dict) else "value"
        if isinstance(sub, dict) and "enum" in sub:
            kind = " | ".join(json.dumps(v) for v in sub["enum"])
        elif isinstance(kind, list):
            kind = " | ".join(str(k) for k in kind)
        parts.append(f'"{key}"{"" if key in required else "?"}: {kind}')
    return "Arguments: {" + ", ".join(parts) + "}, and nothing else."


def call_signature(name: str, args: Any) -> str:
    return name + json.dumps(args, sort_keys=True, ensure_ascii=False, default=str)


async def run_tool_calls(
    ai: AIMessage,
    *,
    earlier: Sequence[AnyMessage],
    tools: ToolRegistry,
    settings: Settings,
    mode: ToolCallMode,
    approve: ApproveHook | None,
    emit: Emit,
    transcript: Sequence[AnyMessage],
) -> ToolStep:
    _check_repeats(ai, earlier, settings.max_identical_calls, transcript)
    answered = _answered_calls(earlier, tools)

    async def one(
        call_id: str, name: str, raw_args: dict[str, Any] | str | None, parse_error: str | None
    ) -> _Outcome:
        # final_answer is how the run ends, not a tool the user asked about: no events for it
        visible = not (name == FINAL_ANSWER and mode == "required")
        if visible:
            emit(ToolCallEvent(call_id, name, raw_args if raw_args is not None else {}))
        started = time.perf_counter()
        outcome = await _execute(
            call_id,
            name,
            raw_args,
            parse_error,
            answered=answered,
            tools=tools,
            settings=settings,
            mode=mode,
            approve=approve,
            transcript=transcript,
        )
        meta = outcome.message.response_metadata
        elapsed = meta.setdefault("duration_s", time.perf_counter() - started)
        if visible:
            emit(
                ToolResultEvent(
                    call_id, name, str(outcome.message.content), outcome.failed, elapsed
                )
            )
        return outcome

    jobs = [one(c["id"] or "", c["name"], c["args"], None) for c in ai.tool_calls]
    jobs += [
        one(c["id"] or "", c["name"] or "", c["args"], c["error"] or "invalid call")
        for c in ai.invalid_tool_calls
    ]
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    for result in outcomes:
        if isinstance(result, BaseException):
            raise result
    done = [o for o in outcomes if isinstance(o, _Outcome)]
    answer = next((o.answer for o in done if o.answer is not None), None)
    bad = {o.message.name for o in done if o.bad_arguments}
    repair = bad.pop() if len(bad) == 1 else None
    return ToolStep([o.message for o in done], sum(o.failed for o in done), answer, repair)


def _check_repeats(
    ai: AIMessage, earlier: Sequence[AnyMessage], limit: int, transcript: Sequence[AnyMessage]
) -> None:
    seen: Counter[str] = Counter()
    for m in earlier:
        if isinstance(m, AIMessage):
            seen.update(call_signature(c["name"], c["args"]) for c in m.tool_calls)
    for c in ai.tool_calls:
        sig = call_signature(c["name"], c["args"])
        seen[sig] += 1
        if seen[sig] > limit and c["name"] != FINAL_ANSWER:
            raise RepeatedToolCallError(
                f"the model called {c['name']} with the same arguments {seen[sig]} times in one "
                f"run (AGENT_MAX_IDENTICAL_CALLS={limit}): {json.dumps(c['args'])[:200]}",
                transcript=[*transcript],
            )


def _signature(tool: Tool, args: Any) -> str | None:
    """The call as ``tool`` reads it (defaults filled in, numbers coerced), or None when the
    arguments do not validate."""
    try:
        validated = tool.validate(args)
    except ToolArgumentsError:
        return None
    data = validated.model_dump(mode="json") if isinstance(validated, BaseModel) else validated
    return call_signature(tool.name, data)


def _answered_calls(earlier: Sequence[AnyMessage], tools: ToolRegistry) -> dict[str, ToolMessage]:
    """The result the run has for each call of a ``deterministic`` tool that succeeded, by the
    call's signature (a prefetched search counts: the model has its excerpts)."""
    results = {
        m.tool_call_id: m for m in earlier if isinstance(m, ToolMessage) and m.status == "success"
    }
    answered: dict[str, ToolMessage] = {}
    for m in earlier:
        for c in m.tool_calls if isinstance(m, AIMessage) else ():
            tool = tools.get(c["name"])
            result = results.get(c["id"] or "")
            if tool is not None and tool.deterministic and result is not None:
                sig = _signature(tool, c["args"])
                if sig is not None:
                    answered.setdefault(sig, result)
    return answered


def _had(tool: Tool, args: Any, answered: Mapping[str, ToolMessage]) -> ToolMessage | None:
    """The earlier result of this very call, if the run has one: the arguments as given, or
    without keys the tool does not take (a small model copies "type" or "required" from the
    schema into a call that otherwise repeats one it made)."""
    if not answered or not tool.deterministic or not isinstance(args, dict):
        return None
    known = tool.parameters_schema().get("properties") or {}
    for candidate in (args, {k: v for k, v in args.items() if k in known}):
        sig = _signature(tool, candidate)
        if sig is not None and sig in answered:
            return answered[sig]
    return None


def _pointer(call_id: str, name: str, had: ToolMessage) -> _Outcome:
    """What a repeated call gets instead of a second run: where its result already is. Measured
    on the saved documents runs (bench/results): 43 of 392 agent runs searched the question
    again after its excerpts were shown, nearly always by writing the tool's schema out as its
    "answer format"; 10 of the 43 ended right, against about half of all runs, some after the
    model read the second, longer result back to the token limit."""
    text = (
        f"You already have the result of this {name} call: it is above, from the same "
        "arguments. Do not call it again with them: use that result to answer."
    )
    earlier = str(had.content)
    if len(earlier) <= 200:
        text += f" It was: {earlier}"
    message = ToolMessage(text, tool_call_id=call_id, name=name, status="success")
    message.response_metadata["repeat_of"] = had.tool_call_id
    return _Outcome(message, False)


def _error(call_id: str, name: str, text: str, *, bad_arguments: bool = False) -> _Outcome:
    message = ToolMessage(text, tool_call_id=call_id, name=name, status="error")
    return _Outcome(message, True, bad_arguments=bad_arguments)


async def _execute(
    call_id: str,
    name: str,
    raw_args: dict[str, Any] | str | None,
    parse_error: str | None,
    *,
    answered: Mapping[str, ToolMessage],
    tools: ToolRegistry,
    settings: Settings,
    mode: ToolCallMode,
    approve: ApproveHook | None,
    transcript: Sequence[AnyMessage],
) -> _Outcome:
    if name == FINAL_ANSWER and mode == "required":
        return _final_answer(call_id, raw_args, parse_error)
    tool = tools.get(name)
    if tool is None:
        available = ", ".join(tools.names) or "(none)"
        return _error(
            call_id,
            name,
            f"Unknown tool '{name}'. Available tools: {available}. "
            "Call one of these by its exact name.",
        )
    try:
        if parse_error is not None:
            raise ToolArgumentsError(name, [FieldError("", parse_error)])
        args = decode_arguments(name, raw_args)
        if (had := _had(tool, args, answered)) is not None:
            return _pointer(call_id, name, had)
        validated = tool.validate(args)
        if approve is not None:
            decision = await approve(ToolCallRequest(call_id, name, args))
            if not decision.approved:
                # A human's refusal is not the model's mistake: it does not use up repairs.
                return _Outcome(
                    ToolMessage(
                        f"The user did not allow this call: {decision.reason}",
                        tool_call_id=call_id,
                        name=name,
                        status="error",
                    ),
                    False,
                )
            if decision.arguments is not None:
                validated = tool.validate(decision.arguments)
    except ToolArgumentsError as exc:
        text = f"{exc}\n{_REPAIR_HINT} {call_shape(tool)}"
        return _error(call_id, name, text, bad_arguments=True)
    timeout = tool.timeout_s if tool.timeout_s is not None else settings.tool_timeout_s
    started = time.perf_counter()  # after approval: a human's thinking time is not the tool's
    with span(
        f"execute_tool {name}",
        gen_ai__operation__name="execute_tool",
        gen_ai__tool__name=name,
        gen_ai__tool__call__id=call_id,
        gen_ai__tool__type="function",
    ) as current:
        outcome = await _invoke(tool, validated, call_id, name, timeout, transcript)
        if outcome.message.status == "error":
            mark_error(current, str(outcome.message.content))
    outcome.message.response_metadata["duration_s"] = time.perf_counter() - started
    return outcome


async def _invoke(
    tool: Tool,
    validated: Any,
    call_id: str,
    name: str,
    limit_s: float,
    transcript: Sequence[AnyMessage],
) -> _Outcome:
    """Run the validated call within ``limit_s``; the model's problems become its outcome."""
    timeout = limit_s
    try:
        output = await asyncio.wait_for(tool.ainvoke(validated), timeout)
        text = render_output(output)
        if tool.untrusted_output:
            text = frame_untrusted(text, source=name)
        outcome = _Outcome(
            ToolMessage(text, tool_call_id=call_id, name=name, status="success"), False
        )
        if isinstance(output, Sourced):
            output.mark(outcome.message)
    except ToolError as exc:
        reason = frame_untrusted(str(exc), source=name) if tool.untrusted_output else str(exc)
        outcome = _error(call_id, name, f"Tool '{name}' refused the call: {reason}")
    except TimeoutError:
        outcome = _error(
            call_id, name, f"Tool '{name}' timed out after {timeout:g} s. Try a smaller request."
        )
    except Exception as exc:
        raise ToolCrashedError(
            f"tool '{name}' failed unexpectedly: {type(exc).__name__}: {exc}",
            transcript=[*transcript],
        ) from exc
    return outcome


def _final_answer(
    call_id: str, raw_args: dict[str, Any] | str | None, parse_error: str | None
) -> _Outcome:
    try:
        if parse_error is not None:
            raise ToolArgumentsError(FINAL_ANSWER, [FieldError("", parse_error)])
        args = FinalAnswerArgs.model_validate(decode_arguments(FINAL_ANSWER, raw_args))
    except ValidationError as exc:
        err = ToolArgumentsError(FINAL_ANSWER, pydantic_field_errors(exc))
        return _error(call_id, FINAL_ANSWER, f"{err}\n{_REPAIR_HINT}")
    except ToolArgumentsError as exc:
        return _error(call_id, FINAL_ANSWER, f"{exc}\n{_REPAIR_HINT}")
    return _Outcome(
        ToolMessage("Answer delivered.", tool_call_id=call_id, name=FINAL_ANSWER, status="success"),
        False,
        answer=args.answer,
    )


def awaiting_approval(
    ai: AIMessage, tools: ToolRegistry, policy: ApprovalPolicy | None
) -> list[ToolCallRequest]:
    """The calls of ``ai`` a person must approve: valid calls of tools marked
    ``needs_approval`` or picked by ``policy`` (an invalid call goes back to the model first:
    nobody is asked about a call that cannot run)."""
    pending: list[ToolCallRequest] = []
    for c in ai.tool_calls:
        tool = tools.get(c["name"])
        if tool is None or (not tool.needs_approval and policy is None):
            continue
        try:
            args = decode_arguments(c["name"], c["args"])
            tool.validate(args)
        except ToolArgumentsError:
            continue
        request = ToolCallRequest(c["id"] or "", c["name"], args)
        if tool.needs_approval or (policy is not None and policy(request)):
            pending.append(request)
    return pending
