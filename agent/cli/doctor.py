"""``agent doctor``: the settings in force, is the LLM endpoint up, what it serves, its tool calls.

The probe (``agent.llm.probe_server``) asks the model tiny sums with one ``add`` tool, once per
``tool_choice``: ``auto`` (the server's parser must turn the reply into ``tool_calls``; vLLM:
``--enable-auto-tool-choice --tool-call-parser ...``), ``required`` (guided decoding forces a
call) and named (the call is constrained to one tool; used to repair failed calls). The agent
runs the same probe once per server and model when ``AGENT_TOOL_CALL_MODE=auto``, and caches
it; ``agent doctor`` shows that cached profile, or measures it anew with ``--refresh``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import openai
import typer
from openai import OpenAI
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from agent._env_vars import read_dotenv, set_by
from agent.cli._common import print_error, with_v1
from agent.cli.exit_codes import ExitCode, exit_code_for
from agent.errors import AgentError
from agent.llm import LLMClient
from agent.loop import ServerProfile, cached_profile, server_profile
from agent.settings import Settings, setting_variables
from agent.text import clip

out = Console(soft_wrap=True)
err = Console(stderr=True)


async def _profile(settings: Settings, refresh: bool) -> ServerProfile:
    llm = LLMClient(settings)
    try:
        return await server_profile(llm, settings, refresh=refresh)
    finally:
        await llm.aclose()


def doctor(
    base_url: Annotated[
        str | None, typer.Option(help="endpoint to check (default AGENT_LLM_BASE_URL)")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="model to probe (default AGENT_LLM_MODEL)")
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="probe again instead of showing the cached result")
    ] = False,
) -> None:
    """Show the settings not at their default (and where each came from: env, .env or a flag),
    check the LLM endpoint, list its models, and show how it handles tool calls.

    The tool-call probe runs once per server and model and is cached; the agent uses it to pick
    its mode (AGENT_TOOL_CALL_MODE=auto) and how to repair failed calls.
    """
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
    for name, where in _stores(settings):
        out.print(f"{name}: {where}", highlight=False)
    for line in _configured(settings, base_url=base_url, model=model):
        out.print(line, highlight=False, markup=False)
    out.print(f"endpoint: {settings.llm_base_url}")
    try:
        served = [m.id for m in client.models.list()]
    except openai.NotFoundError as exc:  # a server answered: at another path than the API's
        fixed = with_v1(settings.llm_base_url)
        err.print(
            f"[bold red]✗[/] {settings.llm_base_url.rstrip('/')}/models: {_short(str(exc))}\n  "
            + (
                f"OpenAI-compatible servers (vLLM) answer under /v1: AGENT_LLM_BASE_URL={fixed}"
                if fixed
                else "The server there is not an OpenAI-compatible API: check AGENT_LLM_BASE_URL."
            )
        )
        raise typer.Exit(ExitCode.USAGE) from None
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

    refresh = refresh or cached_profile(settings) is None
    try:
        with err.status("Probing tool calls (a few seconds per probe on CPU)"):
            profile = asyncio.run(_profile(settings, refresh))
    except AgentError as exc:
        print_error(err, exc)
        raise typer.Exit(exit_code_for(exc)) from None
    _print_profile(settings, profile, fresh=refresh)


def _print_profile(settings: Settings, profile: ServerProfile, *, fresh: bool) -> None:
    table = Table("tool_choice", "outcome", "reply", "s")
    for r in profile.results:
        style = {"parsed": "green", "recovered": "yellow"}.get(r.outcome, "red")
        table.add_row(r.choice, f"[{style}]{r.outcome}[/]", r.detail, f"{r.seconds:.1f}")
    out.print(table)
    when = (
        "measured now"
        if fresh
        else f"cached from {profile.probed_at}; after restarting the server with other flags, "
        "--refresh measures again"
    )
    out.print(f"[dim]({when})[/]")
    if any(r.outcome == "error" for r in profile.results if r.choice == "auto"):
        out.print(
            "tool_choice=auto needs the server started with `--enable-auto-tool-choice "
            "--tool-call-parser <parser>` (hermes for Qwen, llama3_json for Llama 3.x, "
            "mistral for Mistral)."
        )
    if any(r.outcome == "as-text" for r in profile.results if r.choice == "auto"):
        out.print(
            "Under tool_choice=auto the model wrote its call as text the server did not parse "
            "(common for small models); the agent recovers such calls from the text."
        )
    if any(r.outcome == "recovered" for r in profile.results if r.choice == "auto"):
        out.print(
            "recovered: under tool_choice=auto the model wrote its call in the text (in a ```json "
            "block or tags) instead of the server's tool-call format; the agent recovers such "
            "calls, so native mode works."
        )
    if not any(profile.works(c) for c in ("auto", "required")):
        err.print(
            "[bold red]✗[/] neither tool_choice=auto nor required gave a valid call every time; "
            "the agent will rely on recovering calls from the model's text."
        )
    out.print(
        f"tool_call_mode=auto runs this server in [bold]{profile.mode}[/] mode; failed calls are "
        f"repaired {'with a named tool_choice' if profile.named_choice else 'unconstrained'}. "
        f"(now: AGENT_TOOL_CALL_MODE={settings.tool_call_mode})"
    )


def _stores(settings: Settings) -> list[tuple[str, str]]:
    """Where threads, documents and the error KB live: a user who starts the agent from another
    directory gets another ./.agent (AGENT_DATA_DIR is relative to the working directory)."""

    def place(uri: str) -> str:
        return uri if "://" in uri else str(Path(uri).resolve())

    threads = (
        "PostgreSQL (AGENT_CHECKPOINT_URL)"
        if settings.checkpoint_url is not None
        else place(str(settings.threads_db))
    )
    return [
        ("threads", threads),
        ("documents", place(settings.store_uri)),
        ("error KB", place(settings.errors_store_uri)),
    ]


def _configured(settings: Settings, **flags: str | None) -> list[str]:
    """The settings that are not at their default, with where each came from (a flag, the
    environment or the ``.env`` file): what a user checks first when the agent does not do
    what its configuration seems to say."""
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    found = set_by(setting_variables(), read_dotenv(env_file), env_file)
    for field, value in flags.items():
        if value is not None:
            found[f"llm_{field}"] = (f"--{field.replace('_', '-')}", "flag")
    if not found:
        return ["settings: all defaults (no AGENT_* variable in the environment or .env)"]
    lines = ["settings not at their default:"]
    for field, (variable, where) in sorted(found.items()):
        value = getattr(settings, field)
        shown = "****" if isinstance(value, SecretStr) else value
        lines.append(f"  {variable}={shown}  ({where})")
    return lines


def _short(text: str, limit: int = 80) -> str:
    return clip(" ".join(text.split()), limit)
