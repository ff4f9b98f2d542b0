"""Where the REPL reads lines: prompt_toolkit on a terminal, plain stdin lines otherwise.

On a terminal: Enter sends, Esc-Enter (Alt-Enter) inserts a newline, pasted text keeps its
newlines, history persists in a file, and slash commands (and their arguments) complete with Tab
or as you type. ``read`` raises ``EOFError`` on Ctrl-D and ``KeyboardInterrupt`` on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import HTML
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

SEND_HINT = "Enter send · Esc-Enter newline · /help · Ctrl-C cancel · Ctrl-D exit"


class LineReader(Protocol):
    async def read(self, prompt: str, *, default: str = "", main: bool = False) -> str:
        """A line (``main``: a question or command, with history and completion)."""
        ...


class SlashCompleter(Completer):
    """Completes ``/command`` names (with their help) and then the command's arguments."""

    def __init__(
        self, commands: Mapping[str, str], arguments: Callable[[str], Iterable[str]]
    ) -> None:
        self.commands = commands
        self.arguments = arguments

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        if " " not in text:
            for name, help_text in self.commands.items():
                if name.startswith(text):
                    yield Completion(name, start_position=-len(text), display_meta=help_text)
            return
        command, _, arg = text.partition(" ")
        for choice in self.arguments(command):
            if choice.startswith(arg.strip()):
                yield Completion(choice, start_position=-len(arg))


def _bindings() -> KeyBindings:
    kb = KeyBindings()

    @kb.add("enter")
    def _send(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return kb


class PromptInput:
    """prompt_toolkit input for a terminal."""

    def __init__(
        self, history_file: Path, completer: Completer, toolbar: Callable[[], str]
    ) -> None:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        self._main: PromptSession[str] = PromptSession(
            history=FileHistory(str(history_file)),
            completer=completer,
            complete_while_typing=True,
            multiline=True,
            key_bindings=_bindings(),
            bottom_toolbar=toolbar,
            prompt_continuation=lambda width, _line, _wrap: "." * (width - 1) + " ",
        )
        self._plain: PromptSession[str] = PromptSession()

    async def read(self, prompt: str, *, default: str = "", main: bool = False) -> str:
        if main:
            return await self._main.prompt_async(HTML("<ansigreen><b>›</b></ansigreen> "))
        return await self._plain.prompt_async(prompt, default=default)


class PlainInput:
    """Lines from a pipe or file: ``echo "2+2?" | agent chat`` works, without any terminal UI."""

    async def read(self, prompt: str, *, default: str = "", main: bool = False) -> str:
        if prompt and not main:
            sys.stdout.write(prompt)
            sys.stdout.flush()
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            raise EOFError
        return line.rstrip("\n") or default
