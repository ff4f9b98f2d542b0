"""What the commands share: the settings flags, and one clear message for an error.

Flags override ``AGENT_*`` environment variables, which override ``.env`` (``Settings.load``).
Every ``AgentError`` leaving a command becomes one clear message on stderr and the exit code of
its class, so scripts can tell "fix your config" from "the server is down".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agent.cli.exit_codes import ExitCode, exit_code_for
from agent.errors import (
    AgentError,
    InputError,
    LLMResponseError,
    LLMUnavailableError,
    RunError,
)
from agent.settings import Settings

PANEL = "LLM and loop settings (override AGENT_* variables)"


class ModeChoice(StrEnum):
    auto = "auto"
    native = "native"
    required = "required"
    code = "code"


BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="OpenAI-compatible server URL ending in /v1 (env AGENT_LLM_BASE_URL)",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", help="model name the server serves (env AGENT_LLM_MODEL)", rich_help_panel=PANEL
    ),
]
ModeOption = Annotated[
    ModeChoice | None,
    typer.Option(
        "--mode",
        help=(
            "how tools are called: native (tool_choice=auto), required (guided decoding plus a "
            "final_answer tool; best for small models), code (the model writes Python programs; "
            "run_python only), auto (env AGENT_TOOL_CALL_MODE)"
        ),
        rich_help_panel=PANEL,
        case_sensitive=False,
    ),
]
MaxStepsOption = Annotated[
    int | None,
    typer.Option(
        "--max-steps", min=1, help="LLM calls per run (env AGENT_MAX_STEPS)", rich_help_panel=PANEL
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="where threads and chat history live (env AGENT_DATA_DIR)",
        rich_help_panel=PANEL,
        file_okay=False,
    ),
]


def load_settings(
    *,
    base_url: str | None = None,
    model: str | None = None,
    mode: ModeChoice | None = None,
    max_steps: int | None = None,
    data_dir: Path | None = None,
) -> Settings:
    """``Settings.load`` with the flags that were given; raises ``ConfigError``."""
    return Settings.load(
        llm_base_url=base_url,
        llm_model=model,
        tool_call_mode=mode.value if mode is not None else None,
        max_steps=max_steps,
        data_dir=data_dir,
    )


def with_v1(base_url: str) -> str | None:
    """``base_url`` with the ``/v1`` OpenAI-compatible servers (vLLM) answer under, when it
    lacks it (a 404 there is the likely cause), else None."""
    base = base_url.rstrip("/")
    return None if base.endswith("/v1") else f"{base}/v1"


def hint_for(exc: AgentError, settings: Settings | None = None) -> str:
    """What to check next, for the failures people can fix themselves."""
    if isinstance(exc, LLMUnavailableError):
        return (
            f"check: the server process is up and {exc.url} is its address (--base-url or "
            "AGENT_LLM_BASE_URL); `agent doctor` probes the endpoint and tool calling."
        )
    fixed = with_v1(settings.llm_base_url) if settings is not None else None
    if isinstance(exc, LLMResponseError) and exc.status_code == 404 and fixed:
        return (
            "check: OpenAI-compatible servers (vLLM) answer under /v1; try "
            f"AGENT_LLM_BASE_URL={fixed} (or --base-url)"
        )
    if isinstance(exc, LLMResponseError) and exc.status_code in (400, 404, 422):
        model = settings.llm_model if settings is not None else "the model"
        return (
            f"check: does the server serve {model!r} (see its /v1/models; --model / "
            "AGENT_LLM_MODEL) and was it started with tool calling enabled?"
        )
    if isinstance(exc, LLMResponseError) and (exc.status_code or 0) >= 500:
        return "check: the LLM server's own log says why it failed"
    if isinstance(exc, RunError) and exc.thread_id:
        return f"the conversation is saved: continue it with `agent chat --thread {exc.thread_id}`"
    return ""


def print_error(console: Console, exc: AgentError, settings: Settings | None = None) -> None:
    """One clear message: what failed (the class name), the message, and what to check."""
    console.print(f"[bold red]error[/] ({type(exc).__name__}): {escape(str(exc))}")
    hint = hint_for(exc, settings)
    if hint:
        console.print(f"[yellow]{escape(hint)}[/]")


def usage_error(console: Console, message: str) -> typer.Exit:
    """Print ``message`` as the one-line error of bad input (``InputError``, as every command
    prints its errors); raise the exit this returns (code 2)."""
    print_error(console, InputError(message))
    return typer.Exit(ExitCode.USAGE)


@contextmanager
def exit_on_agent_error(console: Console | None = None) -> Iterator[None]:
    """Turn an ``AgentError`` (or Ctrl-C) into a message on stderr and its exit code."""
    try:
        yield
    except AgentError as exc:
        print_error(console or Console(stderr=True, soft_wrap=True), exc)
        raise typer.Exit(exit_code_for(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def utf8_argument(value: str, what: str) -> str:
    """``value`` from the command line, refused with a clear message (exit 2) when it holds
    bytes that are not UTF-8 (Python keeps those as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raw = value.encode("utf-8", errors="surrogateescape")[exc.start : exc.start + 1]
        Console(stderr=True).print(
            f"[bold red]error:[/] the {what} is not valid UTF-8 (byte 0x{raw.hex().upper()} at "
            f"character {exc.start + 1}); set your terminal to UTF-8 or fix the text"
        )
        raise typer.Exit(ExitCode.USAGE) from None
    return value
