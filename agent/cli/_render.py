"""How the REPL and ``agent ask`` draw a run: rich on a terminal, plain lines in a pipe.

``TurnView`` takes the events of one run. On a terminal a transient ``Live`` region shows a
spinner until the first token, then the answer as it streams; each finished tool call is printed
above it as a compact panel, and the final answer is printed once as markdown. When stdout is not
a terminal nothing is animated: tool calls are one line each and the answer is printed as is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from agent.cli._math import plain_math
from agent.events import (
    AgentEvent,
    AgreementEvent,
    CheckEvent,
    ErrorEvent,
    FinalEvent,
    RescueEvent,
    RunResult,
    TokenEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from agent.loop import FINAL_ANSWER, is_question
from agent.text import clip, unframe_untrusted
from agent.tooling import Tool

RESULT_LINES = 6  # of a tool result shown in its panel
RESULT_CHARS = 600


def clip_block(text: str, lines: int = RESULT_LINES, chars: int = RESULT_CHARS) -> str:
    """``text`` cut to ``chars`` characters, then to ``lines`` lines, saying how many were cut."""
    out = clip(text, chars + 1)
    parts = out.splitlines()
    if len(parts) > lines:
        out = "\n".join(parts[:lines]) + f"\n… ({len(parts) - lines} more lines)"
    return out


def format_arguments(arguments: dict[str, Any] | str, *, limit: int = 200) -> str:
    """``a=1, expr="2+2"`` for a dict; a raw string (malformed JSON) is shown as it came."""
    if isinstance(arguments, str):
        return clip_block(arguments, 3, limit)
    parts = []
    for key, value in arguments.items():
        shown = json.dumps(value, ensure_ascii=False, default=str)
        parts.append(f"{key}={clip_block(shown, 1, limit)}")
    return ", ".join(parts)


def tool_panel(
    name: str, arguments: dict[str, Any] | str, content: str, is_error: bool, duration_s: float
) -> RenderableType:
    body = Text()
    body.append(format_arguments(arguments) or "(no arguments)", style="cyan")
    body.append("\n→ ", style="bold")
    # a search's excerpts are framed as untrusted data for the model; a person reads them bare
    body.append(clip_block(unframe_untrusted(content)), style="red" if is_error else "")
    mark = "✗" if is_error else "✓"
    return Panel(
        body,
        title=f"{mark} [bold]{escape(name)}[/]",
        title_align="left",
        subtitle=f"{duration_s:.2f}s",
        subtitle_align="right",
        border_style="red" if is_error else "green",
        box=box.ROUNDED,
        expand=False,
        padding=(0, 1),
    )


def tool_line(
    name: str, arguments: dict[str, Any] | str, content: str, is_error: bool, duration_s: float
) -> str:
    status = "error" if is_error else "ok"
    result = clip_block(unframe_untrusted(content), 1, 200).replace("\n", " ")
    return f"[tool {status}] {name}({format_arguments(arguments)}) -> {result} ({duration_s:.2f}s)"


def usage_text(result: RunResult, elapsed_s: float) -> Text:
    u = result.usage
    return Text(
        f"{result.steps} step{'s' if result.steps != 1 else ''} · {u.total_tokens} tokens "
        f"({u.input_tokens} in, {u.output_tokens} out) · {elapsed_s:.1f}s · "
        f"thread {result.thread_id[:8]}",
        style="dim",
    )


class TurnView:
    """Draws one run's events; ``finish`` (in a ``finally``) leaves the screen clean."""

    def __init__(self, console: Console, *, show_usage: bool = True) -> None:
        self.console = console
        self.rich = console.is_terminal
        self.show_usage = show_usage
        self.started = time.perf_counter()
        self.text = ""  # streamed answer so far
        self.rescue_shown = False  # the run's rescue was said as it began
        self.pending: dict[str, tuple[str, dict[str, Any] | str]] = {}
        self.live: Live | None = None
        self.paused = False
        self.edits: dict[str, dict[str, Any]] = {}

    # ---- the live region -------------------------------------------------------------------

    def _status(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self.text:
            parts.append(Text(self._tail(plain_math(self.text))))
        for name, args in self.pending.values():
            label = f"running {name}({format_arguments(args, limit=60)})"
            parts.append(Spinner("dots", text=Text(label, style="cyan")))
        if not parts:
            parts.append(Spinner("dots", text=Text("thinking…", style="dim")))
        return Group(*parts)

    def _tail(self, text: str) -> str:
        """The end of the streamed text that fits the screen (Live crops from the bottom)."""
        room = max(self.console.height - 4, 3)
        width = max(self.console.width, 20)
        kept: list[str] = []
        for line in reversed(text.split("\n")):
            room -= len(line) // width + 1
            if room < 0:
                break
            kept.append(line)
        return "\n".join(reversed(kept))

    def _refresh(self) -> None:
        if not self.rich or self.paused:
            return
        if self.live is None:
            self.live = Live(
                self._status(), console=self.console, transient=True, refresh_per_second=12
            )
            self.live.start()
        else:
            self.live.update(self._status())

    def start(self) -> None:
        self._refresh()

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Hide the live region while something else (an approval prompt) owns the screen."""
        self.paused = True
        self._stop_live()
        try:
            yield
        finally:
            self.paused = False
            self._refresh()

    def edited(self, call_id: str, arguments: dict[str, Any]) -> None:
        """The approver changed a call's arguments: its panel shows what really ran."""
        self.edits[call_id] = arguments

    # ---- events ----------------------------------------------------------------------------

    def on_event(self, event: AgentEvent) -> None:
        if isinstance(event, TokenEvent):
            self.text += event.text
            self._refresh()
        elif isinstance(event, ToolCallEvent):
            self._flush_text()
            if event.name != FINAL_ANSWER:
                self.pending[event.call_id] = (event.name, event.arguments)
            self._refresh()
        elif isinstance(event, ToolResultEvent):
            self._tool_result(event)
        elif isinstance(event, CheckEvent):
            self._flush_text()  # the answer so far is a draft: the model revises it
            note = "checked with the calculator, revising: " + "; ".join(event.problems)
            self._print(Text(note, style="yellow"), note)
            self._refresh()
        elif isinstance(event, AgreementEvent):
            self._flush_text()  # a draft: most sampled replies reached another value
            note = f"answering with what most replies reached: {event.note}"
            self._print(Text(note, style="yellow"), note)
            self._refresh()
        elif isinstance(event, RescueEvent):
            self._flush_text()  # an empty or looping reply, or a step over budget
            self.rescue_shown = True
            note = f"answering with tools off: {event.reason}"
            self._print(Text(note, style="yellow"), note)
            self._refresh()
        elif isinstance(event, FinalEvent):
            self._final(event.result)
        elif isinstance(event, ErrorEvent):
            self._stop_live()

    def _flush_text(self) -> None:
        """Text the model wrote before calling tools is commentary, not the answer."""
        if text := plain_math(self.text).strip():
            self._print(Text(text, style="dim"), text)
        self.text = ""

    def _tool_result(self, event: ToolResultEvent) -> None:
        _name, args = self.pending.pop(event.call_id, (event.name, {}))
        args = self.edits.pop(event.call_id, args)
        if event.name == FINAL_ANSWER and not event.is_error:
            return
        fields = (event.name, args, event.content, event.is_error, event.duration_s)
        self._print(tool_panel(*fields), tool_line(*fields))
        self._refresh()

    def _final(self, result: RunResult) -> None:
        self._stop_live()
        if result.pending:
            lines = [f"waiting for approval on thread {result.thread_id}:"]
            lines += [
                f"  {p.call_id}  {p.name} {format_arguments(p.arguments)}" for p in result.pending
            ]
            self._print(Text("\n".join(lines), style="yellow"), "\n".join(lines))
            return
        answer = plain_math(result.answer) or "(no answer)"  # --json keeps the LaTeX
        self._print(Markdown(answer), answer)
        if result.sources:  # what the excerpts the model read came from
            listed = "sources: " + "; ".join(result.sources)
            self._print(Text(listed, style="dim"), listed)
        notes = [f"warning: {warning}" for warning in result.warnings]
        if result.rescued and not self.rescue_shown:  # it may rest on unfinished tool work
            notes.append(f"answered with tools off: {result.rescued}")
        for note in notes:
            self._print(Text(note, style="yellow"), note)
        if self.show_usage:
            elapsed = time.perf_counter() - self.started
            usage = usage_text(result, elapsed)
            self._print(usage, usage.plain)

    def _print(self, rich: RenderableType, plain: str) -> None:
        if self.rich:
            self.console.print(rich)
        else:
            self.console.print(plain, markup=False, highlight=False, soft_wrap=True)

    def finish(self) -> None:
        self._stop_live()


# ---- listings the slash commands print ---------------------------------------------------------


def describe_schema(schema: dict[str, Any]) -> Text:
    """One line per argument: name, type, required or default, description."""
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    out = Text()
    if not props:
        return Text("(no arguments)", style="dim")
    for i, (name, spec) in enumerate(props.items()):
        kind = spec.get("type") or "/".join(str(s.get("type", "?")) for s in spec.get("anyOf", []))
        if "enum" in spec:
            kind = " | ".join(json.dumps(v) for v in spec["enum"])
        out.append(("\n" if i else "") + f"{name}", style="bold cyan")
        out.append(f": {kind or 'any'}")
        if name in required:
            out.append(" (required)", style="yellow")
        elif "default" in spec:
            out.append(f" = {json.dumps(spec['default'])}", style="dim")
        if spec.get("description"):
            out.append(f" — {spec['description']}", style="dim")
    return out


def tools_view(tools: Sequence[Tool]) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, show_lines=True, expand=False)
    table.add_column("tool", style="bold")
    table.add_column("description")
    table.add_column("arguments")
    for tool in tools:
        table.add_row(tool.name, tool.description, describe_schema(tool.parameters_schema()))
    return table


def threads_view(threads: Sequence[Any], current: str) -> RenderableType:
    """``threads`` are ``agent.ThreadInfo``; the current one is marked."""
    table = Table(box=box.SIMPLE_HEAD, expand=False)
    table.add_column("id", style="bold")
    table.add_column("updated")
    table.add_column("msgs", justify="right")
    table.add_column("first question")
    for t in threads:
        when = t.updated_at.astimezone().strftime("%Y-%m-%d %H:%M") if t.updated_at else "?"
        mark = " *" if t.thread_id == current else ""
        first = clip_block(t.first_question, 1, 70).replace("\n", " ")
        table.add_row(t.thread_id[:8] + mark, when, str(t.messages), first)
    return table


def history_view(messages: Sequence[AnyMessage], *, turns: int = 3) -> RenderableType:
    """The last few question/answer pairs of a thread, to show where a resumed chat stands."""
    pairs: list[tuple[str, str]] = []
    for m in messages:
        if is_question(m):
            pairs.append((m.text, ""))
        elif isinstance(m, AIMessage) and pairs and (text := _answer_text(m)):
            pairs[-1] = (pairs[-1][0], text)
    out = Text()
    skipped = len(pairs) - turns
    if skipped > 0:
        out.append(f"… {skipped} earlier question(s)\n", style="dim")
    for question, answer in pairs[-turns:]:
        out.append("you: ", style="bold green")
        out.append(clip_block(question, 3, 300) + "\n")
        out.append("agent: ", style="bold blue")
        out.append(
            clip_block(answer, 3, 300) if answer else "(no answer)", style="" if answer else "dim"
        )
        out.append("\n")
    return out


def _answer_text(message: AIMessage) -> str:
    """The answer an AI message gives: its text, or a ``final_answer`` call's answer."""
    for call in message.tool_calls:
        if call["name"] == FINAL_ANSWER:
            return str(call["args"].get("answer", ""))
    return "" if message.tool_calls else message.text
