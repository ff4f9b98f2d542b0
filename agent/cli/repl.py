"""``agent chat``: a terminal chat over the Python API (``agent.api.Agent``), nothing more.

Every chat is a thread saved in SQLite, so ``agent chat --thread ID`` (or ``/resume ID``)
continues it after a restart. One turn is one ``Agent.astream`` run in its own task: Ctrl-C
cancels that task, which stops the run where it stands; the checkpoint keeps every finished step
and the next question closes any tool call left open, so the thread stays valid.

Input comes from ``agent.cli._repl_input`` (prompt_toolkit on a terminal), output is drawn by
``agent.cli._render`` (rich; plain text in a pipe), slash commands live in
``agent.cli._repl_commands``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from agent.api import Agent
from agent.cli._common import print_error
from agent.cli._render import TurnView, format_arguments, history_view
from agent.cli._repl_commands import COMMANDS, argument_choices, run_command
from agent.cli._repl_input import SEND_HINT, LineReader, PlainInput, PromptInput, SlashCompleter
from agent.cli.exit_codes import ExitCode, exit_code_for
from agent.errors import AgentError
from agent.events import (
    AgentEvent,
    Approval,
    ErrorEvent,
    FinalEvent,
    RunResult,
    ToolCallRequest,
)
from agent.loop import describe_mode
from agent.settings import Settings

T = TypeVar("T")

APPROVAL_PROMPT = "Run it? [y]es / [n]o [reason] / [e]dit arguments: "


def new_thread_id() -> str:
    return uuid.uuid4().hex


class Repl:
    """The chat loop. ``run()`` returns when the user leaves (Ctrl-D or ``/exit``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        thread_id: str | None = None,
        console: Console | None = None,
        reader: LineReader | None = None,
        approve_calls: bool = False,
    ) -> None:
        self.settings = settings
        self.console = console or Console()
        self.resuming = thread_id is not None
        self.thread_id = thread_id or new_thread_id()
        self.approve_calls = approve_calls
        # read from the profile cache once per turn, not at every toolbar redraw
        self.mode_label = describe_mode(settings)
        self.known_threads: list[str] = []
        self._agent: Agent | None = None
        self._turn: asyncio.Task[None] | None = None
        self._view: TurnView | None = None
        self._approval_lock = asyncio.Lock()
        # Not 0 after an internal error, nor, when the input is piped in, after a turn that
        # failed (the code of the last such turn): a script must see it. At a terminal, the
        # user saw the error and went on.
        self.exit_code = ExitCode.OK
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self.reader: LineReader = reader or (
            PromptInput(
                settings.data_dir / "chat_history",
                SlashCompleter(
                    {name: cmd.help for name, cmd in COMMANDS.items()},
                    lambda command: argument_choices(self, command),
                ),
                self._toolbar,
            )
            if interactive
            else PlainInput()
        )
        self.interactive = reader is None and interactive

    @property
    def agent(self) -> Agent:
        assert self._agent is not None, "Repl.run() creates the agent"
        return self._agent

    # ---- the loop --------------------------------------------------------------------------

    async def run(self) -> int:
        self._agent = Agent(self.settings)  # a ConfigError here ends the command (exit 2)
        try:
            self._arm_sigint()
            await self._greet()
            while True:
                try:
                    line = await self._read("", main=True)
                except KeyboardInterrupt:
                    continue  # Ctrl-C at the prompt clears the line, as in a shell
                except EOFError:
                    break
                line = line.strip()
                if not line:
                    continue
                if line.startswith("/"):
                    if not await run_command(self, line):
                        break
                else:
                    await self.ask(line)
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
            await self.agent.aclose()
        return self.exit_code

    async def _greet(self) -> None:
        s = self.settings
        tools = len(self.agent.tools)
        self.console.print(
            f"[bold]agent chat[/] · {escape(s.llm_model)} at {escape(s.llm_base_url)} · mode "
            f"{self.mode_label} · {tools} tool{'s' if tools != 1 else ''}",
            highlight=False,
        )
        history = await self._safe(self.agent.ahistory(self.thread_id)) or []
        matches: list[str] = []
        if self.resuming and not history:
            # `--thread 3f2a9c1e`: the short id /threads shows is enough when it is unique.
            threads = await self._safe(self.agent.athreads(limit=None)) or []
            matches = [t.thread_id for t in threads if t.thread_id.startswith(self.thread_id)]
            if len(matches) == 1:
                self.thread_id = matches[0]
                history = await self._safe(self.agent.ahistory(self.thread_id)) or []
        if history:
            self.console.print(
                f"resumed thread [bold]{self.thread_id[:8]}[/] ({len(history)} messages)"
            )
            self.console.print(history_view(history))
        elif self.resuming:
            # a mistyped id would otherwise become a new thread without a word
            many = len(matches) > 1
            what = f"{len(matches)} saved threads match" if many else "no saved thread matches"
            self.console.print(
                f"[yellow]{what} {escape(self.thread_id)!r} (/threads lists them)[/]; "
                f"new thread [bold]{escape(self.thread_id)}[/]"
            )
        else:
            self.console.print(f"new thread [bold]{self.thread_id[:8]}[/]")
        threads = await self._safe(self.agent.athreads(limit=20)) or []
        self.known_threads = [t.thread_id for t in threads]
        self.console.print(f"[dim]{SEND_HINT}[/]")

    async def _safe(self, coro: Awaitable[T]) -> T | None:
        """Start-up extras (history, thread list) report a failure instead of ending the chat."""
        try:
            return await coro
        except AgentError as exc:
            self.report(exc)
            return None

    def _toolbar(self) -> str:
        approve = " · approve on" if self.approve_calls else ""
        return (
            f" thread {self.thread_id[:8]} · {self.settings.llm_model} · "
            f"{self.mode_label}{approve}  │  {SEND_HINT}"
        )

    async def _read(self, prompt: str, *, default: str = "", main: bool = False) -> str:
        try:
            return await self.reader.read(prompt, default=default, main=main)
        finally:
            # prompt_toolkit takes SIGINT over while it reads, and removes our handler after.
            self._arm_sigint()

    def report(self, exc: AgentError) -> None:
        print_error(self.console, exc, self.settings)

    # ---- one turn --------------------------------------------------------------------------

    async def ask(self, question: str) -> None:
        """Run one question on the current thread; Ctrl-C cancels it, errors are printed."""
        turn = self._turn = asyncio.create_task(self._run_turn(question))
        try:
            await asyncio.wait({turn})
        finally:
            self._turn = None
            self.mode_label = describe_mode(self.settings)  # the first run may have probed
        if turn.cancelled():
            self.console.print(
                "[yellow]⏹ cancelled[/] [dim]— the thread is intact; ask again or go on[/]"
            )
        elif (exc := turn.exception()) is not None:
            # A bug, not a user error: show it and keep the session alive.
            self.console.print(
                f"[bold red]internal error[/] {type(exc).__name__}: {escape(str(exc))}"
            )
            self.exit_code = ExitCode.FAILED
        self.console.print()

    async def _run_turn(self, question: str) -> None:
        approve = self._approve if self.approve_calls else None
        result = await self._show(
            self.agent.astream(question, thread_id=self.thread_id, approve=approve)
        )
        # Tools that need approval (AGENT_APPROVE_TOOLS, needs_approval) stop the run: decide
        # here, and it goes on; a run elsewhere can also resume it with the decisions.
        while result is not None and result.pending:
            decisions = {c.call_id: await self._ask_approval(c) for c in result.pending}
            result = await self._show(self._resumed(decisions))

    async def _resumed(self, decisions: dict[str, Approval]) -> AsyncIterator[AgentEvent]:
        try:
            yield FinalEvent(await self.agent.aresume(self.thread_id, decisions=decisions))
        except AgentError as exc:
            yield ErrorEvent(exc)

    async def _show(self, events: AsyncIterator[AgentEvent]) -> RunResult | None:
        """Show a run's events; its result, or None when it failed."""
        view = self._view = TurnView(self.console)
        view.start()
        result: RunResult | None = None
        try:
            async for event in events:
                view.on_event(event)
                if isinstance(event, FinalEvent):
                    result = event.result
                if isinstance(event, ErrorEvent):
                    self.report(event.error)
                    if not self.interactive:  # a script piped in must see that a turn failed
                        self.exit_code = exit_code_for(event.error)
        finally:
            view.finish()
            self._view = None
        return result

    # ---- Ctrl-C ----------------------------------------------------------------------------

    def _arm_sigint(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._on_sigint)

    def _on_sigint(self) -> None:
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()
        elif not self.interactive:
            raise SystemExit(ExitCode.INTERRUPTED)  # a plain-input chat has no prompt to return to

    # ---- approval --------------------------------------------------------------------------

    async def _approve(self, request: ToolCallRequest) -> Approval:
        # Parallel calls ask one at a time.
        async with self._approval_lock:
            view = self._view
            with view.suspended() if view is not None else contextlib.nullcontext():
                decision = await self._ask_approval(request)
            if view is not None and decision.arguments is not None:
                view.edited(request.call_id, decision.arguments)
            return decision

    async def _ask_approval(self, request: ToolCallRequest) -> Approval:
        self.console.print(
            Panel(
                Text(format_arguments(request.arguments) or "(no arguments)", style="cyan"),
                title=f"approve? [bold]{escape(request.name)}[/]",
                title_align="left",
                border_style="yellow",
                expand=False,
            )
        )
        while True:
            try:
                answer = (await self._read(APPROVAL_PROMPT)).strip()
            except (EOFError, KeyboardInterrupt):
                self._on_sigint()
                return Approval.refuse("the user cancelled the turn")
            word, _, reason = answer.partition(" ")
            word = word.lower()
            if word in ("y", "yes"):
                return Approval.approve()
            if word in ("n", "no"):
                return Approval.refuse(reason.strip() or "the user refused this call")
            if word in ("e", "edit"):
                edited = await self._edit_arguments(request)
                if edited is not None:
                    return Approval.edit(edited)
                continue
            self.console.print("answer y, n (a reason may follow) or e")

    async def _edit_arguments(self, request: ToolCallRequest) -> dict[str, Any] | None:
        current = json.dumps(request.arguments, ensure_ascii=False)
        try:
            text = await self._read("arguments (JSON): ", default=current)
        except (EOFError, KeyboardInterrupt):
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            self.console.print(f"[red]not valid JSON: {escape(str(exc))}[/]")
            return None
        if not isinstance(value, dict):
            self.console.print("[red]the arguments must be a JSON object[/]")
            return None
        return value

    # ---- state the commands change ---------------------------------------------------------

    def new_thread(self) -> None:
        self.thread_id = new_thread_id()

    async def reconfigure(self, **update: Any) -> None:
        """New settings take a new ``Agent`` (its prompt and mode are fixed); the tools stay."""
        old = self.agent
        settings = self.settings.model_copy(update=update)
        self._agent = Agent(settings, tools=list(old.tools))
        self.settings = settings
        self.mode_label = describe_mode(settings)
        await old.aclose()


def run_repl(
    settings: Settings, *, thread_id: str | None = None, approve_calls: bool = False
) -> int:
    return asyncio.run(Repl(settings, thread_id=thread_id, approve_calls=approve_calls).run())
