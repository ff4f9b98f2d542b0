"""``agent ask QUESTION``: one question, one answer; ``--json`` for scripts."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict
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
from agent.errors import AgentError, RunError
from agent.settings import Settings

if TYPE_CHECKING:
    from agent.events import RunResult


def ask(
    question: Annotated[str, typer.Argument(help="the question (quote it)", show_default=False)],
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
            "--thread", "-t", help="ask on this thread (continues it if saved)", show_default=False
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

    [bold]--json[/] prints one object on stdout:

      answer, thread_id, steps,
      usage: {input_tokens, output_tokens, total_tokens},
      tool_calls: [{call_id, name, arguments, content, is_error, duration_s}],
      warnings: [text, ...] (e.g. the answer was cut off at max_tokens)

    and on failure: {"error": {type, message, hint, exit_code}, "thread_id"}.

    """
    err = Console(stderr=True, soft_wrap=True)
    question = utf8_argument(question, "question")
    settings: Settings | None = None
    thread = thread or uuid.uuid4().hex  # known up front, so a failed run can be continued
    try:
        settings = load_settings(
            base_url=base_url, model=model, mode=mode, max_steps=max_steps, data_dir=data_dir
        )
        if as_json:
            result = asyncio.run(_run(settings, question, thread))
            typer.echo(json.dumps(result_json(result), ensure_ascii=False))
        else:
            asyncio.run(_run_streaming(settings, question, thread))
    except AgentError as exc:
        print_error(err, exc, settings)
        if as_json:
            typer.echo(json.dumps(error_json(exc, settings, thread), ensure_ascii=False))
        raise typer.Exit(exit_code_for(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.INTERRUPTED) from None


async def _run(settings: Settings, question: str, thread_id: str) -> RunResult:
    from agent.api import Agent  # deferred: `agent --help` should not load langgraph

    async with Agent(settings) as agent:
        return await agent.arun(question, thread_id=thread_id)


async def _run_streaming(settings: Settings, question: str, thread_id: str) -> None:
    from agent.api import Agent
    from agent.cli._render import TurnView
    from agent.events import ErrorEvent

    view = TurnView(Console())
    async with Agent(settings) as agent:
        view.start()
        try:
            async for event in agent.astream(question, thread_id=thread_id):
                view.on_event(event)
                if isinstance(event, ErrorEvent):
                    raise event.error
        finally:
            view.finish()


def result_json(result: RunResult) -> dict[str, Any]:
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
