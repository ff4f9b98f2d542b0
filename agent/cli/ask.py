"""``agent ask QUESTION``: one question, one answer; ``--json`` for scripts."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from agent.cli._common import (
    BaseUrlOption,
    DataDirOption,
    MaxStepsOption,
    ModelOption,
    ModeOption,
    hint_for,
    load_settings,
    print_error,
    utf8_argument,
)
from agent.cli.exit_codes import ExitCode, exit_code_for
from agent.errors import AgentError, InputError, RunError
from agent.settings import Settings

if TYPE_CHECKING:
    from agent.api import Agent
    from agent.events import Approval, RunResult


def ask(
    question: Annotated[
        str | None,
        typer.Argument(
            help="the question (quote it); none when deciding pending calls", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print one JSON object (answer, tool_calls, steps, usage, thread_id, "
            "warnings) and nothing else on stdout",
        ),
    ] = False,
    thread: Annotated[
        str | None,
        typer.Option(
            "--thread",
            "-t",
            help="ask on this thread (continues it if saved; the short id a run prints is enough)",
            show_default=False,
        ),
    ] = None,
    approve: Annotated[
        list[str] | None,
        typer.Option("--approve", help="approve pending call CALL_ID", metavar="CALL_ID"),
    ] = None,
    reject: Annotated[
        list[str] | None,
        typer.Option(
            "--reject", help="reject pending call, reason for the model", metavar="CALL_ID[:REASON]"
        ),
    ] = None,
    edit: Annotated[
        list[str] | None,
        typer.Option("--edit", help="run pending call with these arguments", metavar="ID=JSON"),
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            help="answer as JSON valid under this JSON Schema file (an object); prints the JSON",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    mode: ModeOption = None,
    max_steps: MaxStepsOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Ask one question; print the tool calls the agent made and its answer.

    [bold]Examples[/]

      agent ask "What is (1234 + 5678) / 2?"

      agent ask --json "What is 17 * 23?" | jq -r .answer

      agent ask --thread my-notes "And divided by 3?"      continue a thread

      AGENT_LLM_BASE_URL=http://gpu-box:8000/v1 agent ask --mode native "..."

      agent ask --schema invoice.schema.json "Ada bought 3 books at 12.50" > invoice.json

    [bold]Approval[/]: calls of tools in AGENT_APPROVE_TOOLS stop the run (exit 7) and print
    their ids; decide each to go on, from any shell that shares the threads:

      agent ask --thread T --approve call_1 --reject "call_2:not that account"

      agent ask --thread T --edit 'call_1={"expression": "6*7"}'

    [bold]--json[/] prints one object on stdout:

      answer, thread_id, steps,
      usage: {input_tokens, output_tokens, total_tokens},
      tool_calls: [{call_id, name, arguments, content, is_error, duration_s}],
      warnings: \\[text, ...] (e.g. the answer was cut off at max_tokens)
      rescued: why the answer came from a last call with tools off (null if not)
      corrected: \\[step, ...] wrong steps the answer check sent back
      sources: \\[file (section), ...] what the document excerpts it read came from
      pending: [{call_id, name, arguments}] (calls waiting for approval)
      output: the answer as JSON under --schema (null without it)

    and on failure: {"error": {type, message, hint, exit_code}, "thread_id"}.

    """
    err = Console(stderr=True, soft_wrap=True)
    settings: Settings | None = None
    try:
        decisions = parse_decisions(approve or [], reject or [], edit or [])
        if decisions and (question is not None or thread is None):
            raise InputError("deciding pending calls takes --thread ID and no question")
        if not decisions:
            if question is None:
                raise InputError("give a question (or --approve/--reject/--edit with --thread)")
            question = utf8_argument(question, "question")
        given = thread is not None
        thread = thread or uuid.uuid4().hex  # known up front, so a failed run can be continued
        output = read_schema(schema) if schema is not None else None
        settings = load_settings(
            base_url=base_url, model=model, mode=mode, max_steps=max_steps, data_dir=data_dir
        )
        if as_json or output is not None:
            result = asyncio.run(_run(settings, question, thread, decisions, output, given))
            shown = result_json(result) if as_json else result.structured
            if as_json or not result.pending:
                typer.echo(json.dumps(shown, ensure_ascii=False))
        else:
            result = asyncio.run(_run_streaming(settings, question, thread, decisions, given))
        if result.pending:
            raise typer.Exit(ExitCode.AWAITING_APPROVAL)
    except AgentError as exc:
        print_error(err, exc, settings)
        if as_json:
            typer.echo(json.dumps(error_json(exc, settings, thread), ensure_ascii=False))
        raise typer.Exit(exit_code_for(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def read_schema(path: Path) -> dict[str, Any]:
    """The JSON Schema ``--schema`` names (an object); a clear error for anything else."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"--schema {path}: cannot read it: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"--schema {path}: not JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise InputError(
            f"--schema {path}: a JSON Schema is an object, got {type(schema).__name__}"
        )
    return schema


def parse_decisions(approve: list[str], reject: list[str], edit: list[str]) -> dict[str, Approval]:
    """``--approve ID``, ``--reject ID[:reason]``, ``--edit ID=JSON`` as decisions."""
    from agent.events import Approval

    decisions: dict[str, Approval] = {c: Approval.approve() for c in approve}
    for item in reject:
        call_id, _, reason = item.partition(":")
        decisions[call_id] = Approval.reject(reason.strip() or "the user refused this call")
    for item in edit:
        call_id, sep, text = item.partition("=")
        try:
            arguments = json.loads(text) if sep else None
        except json.JSONDecodeError as exc:
            raise InputError(f"--edit {call_id}: the arguments are not JSON: {exc}") from None
        if not isinstance(arguments, dict):
            raise InputError(f"--edit takes CALL_ID={{json object}}, got {item!r}")
        decisions[call_id] = Approval.edit(arguments)
    return decisions


_SHORT_ID = re.compile(r"[0-9a-f]{4,31}")
_GENERATED_ID = re.compile(r"[0-9a-f]{32}")


async def _full_thread_id(agent: Agent, thread_id: str) -> str:
    """The thread ``--thread`` names: itself, or, when it has no messages and is the start of
    exactly one id ``agent ask`` made (the short id its footer prints), that thread."""
    if not _SHORT_ID.fullmatch(thread_id) or await agent.ahistory(thread_id):
        return thread_id
    matches = [
        t.thread_id
        for t in await agent.athreads(limit=None)
        if _GENERATED_ID.fullmatch(t.thread_id) and t.thread_id.startswith(thread_id)
    ]
    return matches[0] if len(matches) == 1 else thread_id


async def _run(
    settings: Settings,
    question: str | None,
    thread_id: str,
    decisions: dict[str, Approval],
    output: dict[str, Any] | None = None,
    given: bool = False,
) -> RunResult[Any]:
    from agent.api import Agent  # deferred: `agent --help` should not load langgraph

    async with Agent(settings) as agent:
        if given:
            thread_id = await _full_thread_id(agent, thread_id)
        if decisions:
            return await agent.aresume(thread_id, decisions=decisions, output_type=output)
        assert question is not None
        return await agent.arun(question, thread_id=thread_id, output_type=output)


async def _run_streaming(
    settings: Settings,
    question: str | None,
    thread_id: str,
    decisions: dict[str, Approval],
    given: bool = False,
) -> RunResult[Any]:
    from agent.api import Agent
    from agent.cli._render import TurnView
    from agent.events import ErrorEvent, FinalEvent

    view = TurnView(Console())
    final: RunResult[Any] | None = None
    async with Agent(settings) as agent:
        if given:
            thread_id = await _full_thread_id(agent, thread_id)
        view.start()
        try:
            if decisions:
                result = await agent.aresume(thread_id, decisions=decisions)
                view.on_event(FinalEvent(result))
                return result
            assert question is not None
            async for event in agent.astream(question, thread_id=thread_id):
                view.on_event(event)
                if isinstance(event, ErrorEvent):
                    raise event.error
                if isinstance(event, FinalEvent):
                    final = event.result
        finally:
            view.finish()
    if final is None:  # astream ends with a FinalEvent or an ErrorEvent
        raise RunError("the run ended without a result")
    return final


def result_json(result: RunResult[Any]) -> dict[str, Any]:
    from agent.loop import FINAL_ANSWER

    return {
        "answer": result.answer,
        "thread_id": result.thread_id,
        "steps": result.steps,
        "usage": asdict(result.usage),
        # A successful final_answer call is how the answer travels in required mode, not a tool
        # the agent used.
        "tool_calls": [
            asdict(c) for c in result.tool_calls if c.name != FINAL_ANSWER or c.is_error
        ],
        "warnings": result.warnings,
        "rescued": result.rescued,
        "corrected": result.corrected,
        "sources": result.sources,
        "pending": [asdict(p) for p in result.pending],
        "output": result.structured,
    }


def error_json(exc: AgentError, settings: Settings | None, thread_id: str | None) -> dict[str, Any]:
    if isinstance(exc, RunError) and exc.thread_id:
        thread_id = exc.thread_id
    return {
        "error": {
            "type": type(exc).__name__,
            "message": str(exc),
            "hint": hint_for(exc, settings),
            "exit_code": int(exit_code_for(exc)),
        },
        "thread_id": thread_id,
    }
