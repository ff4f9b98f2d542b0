"""``agent doctor``: is the LLM endpoint up, what does it serve, and which tool-call mode works.

The probe asks the model a few tiny sums with one ``add`` tool, once per mode:

* ``native``: ``tool_choice="auto"``; the server's tool parser must turn the model's text into
  ``tool_calls`` (vLLM: ``--enable-auto-tool-choice --tool-call-parser ...``).
* ``required``: ``tool_choice="required"``; the server constrains decoding to a call.

It talks to the server with the openai SDK directly, so it checks the server, not our runtime.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Literal

import openai
import typer
from openai import OpenAI
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionUserMessageParam
from rich.console import Console
from rich.table import Table

from agent.cli._common import print_error
from agent.cli.exit_codes import ExitCode, exit_code_for
from agent.errors import AgentError
from agent.settings import Settings, ToolCallMode
from agent.text import clip

out = Console(soft_wrap=True)
err = Console(stderr=True)

PROBE_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers and return the sum.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "number", "description": "first addend"},
                "b": {"type": "number", "description": "second addend"},
            },
            "required": ["a", "b"],
            "additionalProperties": False,
        },
    },
}
PROBE_QUESTIONS: tuple[tuple[str, float, float], ...] = (
    ("What is 17 + 25? Use the add tool.", 17, 25),
    ("Please add 1203 and 88 with the tool.", 1203, 88),
    ("Compute 3.5 plus 4.25 using add.", 3.5, 4.25),
)
MODES: tuple[ToolCallMode, ...] = ("native", "required")
ProbeOutcome = Literal["parsed", "wrong-args", "as-text", "no-call", "error"]


@dataclass(frozen=True)
class ProbeResult:
    mode: ToolCallMode
    outcome: ProbeOutcome
    detail: str
    seconds: float


def probe_tool_calls(
    client: OpenAI, model: str, mode: ToolCallMode, question: str, a: float, b: float
) -> ProbeResult:
    """One chat completion with the probe tool; classify what came back."""
    started = time.perf_counter()
    try:
        response = client.chat.completions.create(
            model=model,
            messages=[ChatCompletionUserMessageParam(role="user", content=question)],
            tools=[PROBE_TOOL],
            tool_choice="auto" if mode == "native" else "required",
            temperature=0.0,
            max_tokens=128,
        )
    except openai.APIError as exc:
        return ProbeResult(mode, "error", _short(str(exc)), time.perf_counter() - started)
    seconds = time.perf_counter() - started
    message = response.choices[0].message
    calls = message.tool_calls or []
    if not calls:
        text = (message.content or "").strip()
        outcome: ProbeOutcome = "as-text" if '"add"' in text or "add(" in text else "no-call"
        return ProbeResult(mode, outcome, _short(text) or "(empty reply)", seconds)
    call = calls[0]
    function = getattr(call, "function", None)
    if function is None or function.name != "add":
        return ProbeResult(mode, "wrong-args", f"called {function and function.name}", seconds)
    try:
        args = json.loads(function.arguments)
        ok = float(args["a"]) + float(args["b"]) == a + b
    except (ValueError, KeyError, TypeError):
        ok = False
    outcome = "parsed" if ok else "wrong-args"
    return ProbeResult(mode, outcome, _short(f"add({function.arguments})"), seconds)


def recommend(results: list[ProbeResult]) -> ToolCallMode | None:
    """native if it always parses (cheaper prompts, free-text answers); else required if it does."""
    for mode in MODES:
        own = [r for r in results if r.mode == mode]
        if own and all(r.outcome == "parsed" for r in own):
            return mode
    best = max(
        MODES,
        key=lambda m: sum(r.outcome == "parsed" for r in results if r.mode == m),
    )
    if any(r.outcome == "parsed" for r in results if r.mode == best):
        return best
    return None


def doctor(
    base_url: Annotated[
        str | None, typer.Option(help="endpoint to check (default AGENT_LLM_BASE_URL)")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="model to probe (default AGENT_LLM_MODEL)")
    ] = None,
    probes: Annotated[int, typer.Option(min=1, max=len(PROBE_QUESTIONS))] = len(PROBE_QUESTIONS),
) -> None:
    """Check the LLM endpoint, list its models, and probe tool calling in each mode."""
    try:
        settings = Settings.load(llm_base_url=base_url, llm_model=model)
    except AgentError as exc:
        print_error(err, exc)
        raise typer.Exit(exit_code_for(exc)) from None
    client = OpenAI(
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value(),
        timeout=settings.llm_timeout_s,
        max_retries=0,
    )
    out.print(f"endpoint: {settings.llm_base_url}")
    try:
        served = [m.id for m in client.models.list()]
    except openai.APIError as exc:
        err.print(
            f"[bold red]✗[/] {settings.llm_base_url}/models: {_short(str(exc))}\n"
            "  Local model: `agent llm serve --detach` (status: `agent llm status`). "
            "Remote server: check AGENT_LLM_BASE_URL and that the server is up."
        )
        raise typer.Exit(ExitCode.LLM_UNAVAILABLE) from None
    out.print(f"[green]✓[/] answers; serves: {', '.join(served) or '(nothing)'}")
    if settings.llm_model not in served:
        err.print(
            f"[bold red]✗[/] AGENT_LLM_MODEL={settings.llm_model!r} is not served there; "
            f"set it to one of: {', '.join(served)}"
        )
        raise typer.Exit(ExitCode.USAGE)

    results: list[ProbeResult] = []
    with err.status("Probing tool calls (a few seconds per probe on CPU)"):
        for mode in MODES:
            for question, a, b in PROBE_QUESTIONS[:probes]:
                results.append(probe_tool_calls(client, settings.llm_model, mode, question, a, b))
    table = Table("mode", "tool_choice", "outcome", "reply", "s")
    for r in results:
        style = "green" if r.outcome == "parsed" else "red"
        choice = "auto" if r.mode == "native" else "required"
        table.add_row(r.mode, choice, f"[{style}]{r.outcome}[/]", r.detail, f"{r.seconds:.1f}")
    out.print(table)
    _print_advice(settings, results)


def _print_advice(settings: Settings, results: list[ProbeResult]) -> None:
    if any(r.outcome == "error" and "auto" in r.detail for r in results if r.mode == "native"):
        out.print(
            "native mode needs the server started with `--enable-auto-tool-choice "
            "--tool-call-parser <parser>` (hermes for Qwen, llama3_json for Llama 3.x, "
            "mistral for Mistral)."
        )
    if any(r.outcome == "as-text" for r in results if r.mode == "native"):
        out.print(
            "Under tool_choice=auto the model wrote its call as text the server did not parse "
            "(common for small models)."
        )
    best = recommend(results)
    current = settings.resolved_tool_call_mode()
    if best is None:
        err.print(
            "[bold red]✗[/] no mode produced a valid tool call; the agent cannot use tools "
            "with this server/model."
        )
        raise typer.Exit(ExitCode.FAILED)
    out.print(
        f"Recommendation: AGENT_TOOL_CALL_MODE={best} "
        f"(now: {settings.tool_call_mode}, which resolves to {current})"
    )


def _short(text: str, limit: int = 80) -> str:
    return clip(" ".join(text.split()), limit)
