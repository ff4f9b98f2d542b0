"""The REPL's slash commands: each reads or changes the ``Repl``'s state, nothing more."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from agent.cli._render import history_view, threads_view, tools_view
from agent.errors import AgentError

if TYPE_CHECKING:
    from agent.cli.repl import Repl

MODES = ("native", "required", "code", "auto")


@dataclass(frozen=True, slots=True)
class Command:
    usage: str
    help: str
    run: Callable[[Repl, str], Awaitable[bool]]  # False ends the REPL


async def _help(repl: Repl, _arg: str) -> bool:
    table = Table.grid(padding=(0, 2))
    for name, cmd in COMMANDS.items():
        table.add_row(f"[bold]{name}[/] {escape(cmd.usage)}", cmd.help)
    repl.console.print(table)
    repl.console.print(
        "[dim]Type a question to ask it. Enter sends; Esc-Enter (Alt-Enter) adds a line. "
        "Ctrl-C cancels the answer in progress; Ctrl-D exits.[/]"
    )
    return True


async def _tools(repl: Repl, _arg: str) -> bool:
    tools = list(repl.agent.tools)
    if not tools:
        repl.console.print("[dim]no tools[/]")
    else:
        repl.console.print(tools_view(tools))
    return True


async def _new(repl: Repl, _arg: str) -> bool:
    repl.new_thread()
    repl.console.print(f"new thread [bold]{repl.thread_id[:8]}[/]")
    return True


async def _threads(repl: Repl, _arg: str) -> bool:
    threads = await repl.agent.athreads(limit=20)
    repl.known_threads = [t.thread_id for t in threads]
    if not threads:
        repl.console.print("[dim]no saved threads yet[/]")
        return True
    repl.console.print(threads_view(threads, repl.thread_id))
    repl.console.print("[dim]/resume ID continues one (the first characters of the id will do)[/]")
    return True


async def _resume(repl: Repl, arg: str) -> bool:
    if not arg:
        repl.console.print("usage: /resume ID   (/threads lists them)")
        return True
    threads = await repl.agent.athreads(limit=None)
    ids = [t.thread_id for t in threads]
    matches = [i for i in ids if i == arg] or [i for i in ids if i.startswith(arg)]
    if len(matches) != 1:
        what = "no saved thread" if not matches else f"{len(matches)} threads"
        repl.console.print(f"[yellow]{what} matching {escape(arg)!r}[/]; /threads lists them")
        return True
    repl.thread_id = matches[0]
    messages = await repl.agent.ahistory(repl.thread_id)
    repl.console.print(f"resumed thread [bold]{repl.thread_id[:8]}[/] ({len(messages)} messages)")
    repl.console.print(history_view(messages))
    return True


async def _mode(repl: Repl, arg: str) -> bool:
    if arg:
        if arg not in MODES:
            repl.console.print(f"[yellow]mode must be one of {', '.join(MODES)}[/]")
            return True
        await repl.reconfigure(tool_call_mode=arg)
    s = repl.settings
    repl.console.print(f"tool-call mode: [bold]{s.tool_call_mode}[/] ({repl.mode_label})")
    return True


async def _model(repl: Repl, arg: str) -> bool:
    if arg:
        await repl.reconfigure(llm_model=arg)
    s = repl.settings
    repl.console.print(
        f"model [bold]{escape(s.llm_model)}[/] at {escape(s.llm_base_url)} "
        f"(tool-call mode {repl.mode_label})"
    )
    return True


async def _approve(repl: Repl, arg: str) -> bool:
    if arg in ("on", "off"):
        repl.approve_calls = arg == "on"
    elif arg:
        repl.console.print("usage: /approve on|off")
        return True
    state = "on: each tool call waits for your yes / no / edit" if repl.approve_calls else "off"
    repl.console.print(f"approval {state}")
    return True


async def _clear(repl: Repl, _arg: str) -> bool:
    repl.console.clear()
    return True


async def _exit(_repl: Repl, _arg: str) -> bool:
    return False


COMMANDS: dict[str, Command] = {
    "/help": Command("", "this list", _help),
    "/tools": Command("", "the tools the agent may call, with their arguments", _tools),
    "/new": Command("", "start a new thread", _new),
    "/threads": Command("", "saved threads: id, last update, first question", _threads),
    "/resume": Command("ID", "continue a saved thread (an id prefix is enough)", _resume),
    "/mode": Command("[native|required|auto]", "show or set how the model calls tools", _mode),
    "/model": Command("[NAME]", "show or switch the model", _model),
    "/approve": Command("[on|off]", "ask before each tool call runs (yes/no/edit)", _approve),
    "/clear": Command("", "clear the screen", _clear),
    "/exit": Command("", "leave (Ctrl-D works too)", _exit),
}
ALIASES = {"/quit": "/exit", "/q": "/exit", "/?": "/help"}


def argument_choices(repl: Repl, command: str) -> list[str]:
    """What Tab offers after a command name."""
    if command == "/mode":
        return list(MODES)
    if command == "/approve":
        return ["on", "off"]
    if command == "/resume":
        return [i[:8] for i in repl.known_threads]
    return []


async def run_command(repl: Repl, line: str) -> bool:
    """Run a slash command line; False when the REPL should end."""
    name, _, arg = line.strip().partition(" ")
    name = ALIASES.get(name.lower(), name.lower())
    command = COMMANDS.get(name)
    if command is None:
        close = [c for c in COMMANDS if c.startswith(name[:3])]
        also = f" (did you mean {', '.join(close)}?)" if close else ""
        repl.console.print(f"[yellow]unknown command {escape(name)}{also}[/]; /help lists them")
        return True
    try:
        return await command.run(repl, arg.strip())
    except AgentError as exc:
        repl.report(exc)
        return True
