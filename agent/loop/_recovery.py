"""Recover tool calls that a model wrote as text instead of as ``tool_calls``.

Small models under ``tool_choice=auto`` often put the call in ``content``: bare JSON, a fenced
```json block, or Hermes-style ``<tool_call>...</tool_call>`` tags, often after some reasoning
and sometimes in ``<tools>`` tags (Qwen2.5-Coder-1.5B copies the tag its chat template lists
the tools in), followed by a result the model made up. A text counts as a call only when a
block parses to an object (or list of objects) naming a *known* tool, so ordinary answers that
happen to contain JSON are left alone; blocks that are not JSON are skipped, unless they are a
call written as a Python dict (the model sometimes fences a call as ```python, with ``None``).
The caller drops the text with the call: what follows it is the model guessing the result.

A call the model starts to write but that does not parse (Qwen2.5-Coder-1.5B often ends a
right answer with "The final answer is:" and a broken copy of its search call, braces
unbalanced, schema keys pasted in) is not run and must not be the answer either:
``cut_written_call`` keeps the text before it.

A ```python block is a call too when the agent has the ``run_python`` tool (``PROGRAM_TOOL``):
a small code model asked to compute writes a program in a fence, not a JSON call with the
program escaped inside a string. Only the first block runs; the model sees its output and
answers (or writes a corrected program).
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from collections.abc import Collection, Container
from typing import Any, Literal

from langchain_core.messages.tool import ToolCall

from agent.tooling import ArgumentsDecodeError, parse_arguments

_TAGGED = re.compile(r"<(tool_call|tools)>\s*(.*?)\s*(?:</\1>|$)", re.DOTALL)
_PYTHON = r"(?:python3|python|py)"  # the fence tags models write for Python
_FENCED = re.compile(rf"```(?:json|{_PYTHON})?\s*(.*?)```", re.DOTALL)
_PROGRAM = re.compile(rf"```{_PYTHON}[ \t]*\n(.*?)(?:```|$)", re.DOTALL)

_LEAD_IN = re.compile(r"(?:^|\n)[^\n]*:\s*$")  # "Therefore, the final answer is:"

PROGRAM_TOOL = "run_python"
"""The tool a ```python block in the model's text is a call of, with the block as ``code``."""


def recover_tool_calls(content: str, known_tools: Container[str]) -> list[ToolCall]:
    """The tool calls written in ``content``, or ``[]`` if it holds none for a known tool."""
    text = content.strip()
    if not text:
        return []
    calls = _written_calls(text, known_tools)
    if not calls and PROGRAM_TOOL in known_tools:
        program = _PROGRAM.search(text)
        if program and program.group(1).strip():
            return [_call(PROGRAM_TOOL, {"code": program.group(1)})]
    return calls


def _written_calls(text: str, known_tools: Container[str]) -> list[ToolCall]:
    tagged = [body for _tag, body in _TAGGED.findall(text)]
    candidates = tagged or _FENCED.findall(text) or [text]
    calls: list[ToolCall] = []
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            value = _call_literal(candidate)
            if value is None:
                continue
        for item in value if isinstance(value, list) else [value]:
            call = _as_call(item, known_tools)
            if call is None:
                return []
            calls.append(call)
    return calls


def _call_literal(text: str) -> dict[str, Any] | None:
    """A call written as a Python dict (fenced as ```python, with ``None``/``True`` in it);
    any other literal is not a call, and its block is skipped like any non-JSON block."""
    if not text.startswith("{"):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict) and "name" in value else None


def _as_call(item: Any, known_tools: Container[str]) -> ToolCall | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):  # {"type": "function", "function": {...}}
        item = item["function"]
    name = item.get("name")
    if not isinstance(name, str) or name not in known_tools:
        return None
    try:
        args = parse_arguments(item.get("arguments", item.get("parameters", {})))
    except ArgumentsDecodeError:
        return None
    return _call(name, args)


def _call(name: str, args: dict[str, Any]) -> ToolCall:
    return ToolCall(type="tool_call", id=f"call_{uuid.uuid4().hex[:12]}", name=name, args=args)


def cut_written_call(content: str, known_tools: Collection[str]) -> str:
    """``content`` up to the first call of a known tool written in it, and without the line
    that only led into it; ``content`` itself when it writes none. For replies whose calls
    cannot run: the call did not parse, or tools are off."""
    for start, char in enumerate(content):
        if char in CALL_STARTS and call_verdict(content[start:], known_tools) == "call":
            kept = content[:start].rstrip()
            return _LEAD_IN.sub("", kept).rstrip()
    return content


# Where a written call starts: a fence or tag, a list's bracket, braces, maybe the OpenAI
# wrapper, then a name (a Python dict's quotes too); recognized as the text arrives
CALL_STARTS = "`<[{"
_OPENING_TAGS = ("<tool_call>", "<tools>")
_FENCE_OPEN = re.compile(r"```[A-Za-z0-9]*[ \t]*\n?")
_PROGRAM_OPEN = re.compile(rf"```{_PYTHON}[ \t]*\n")


def _key_sequences(q: str) -> list[list[str]]:
    """The keys a written call opens with, quoted with ``q``: its name, or the OpenAI shapes
    that wrap it."""
    name = [f"{q}name{q}", ":", q]
    function = [f"{q}function{q}", ":", "{", *name]
    return [name, function, [f"{q}type{q}", ":", f"{q}function{q}", ",", *function]]


_KEYS = [*_key_sequences('"'), *_key_sequences("'")]

Verdict = Literal["call", "text", "open"]


def call_verdict(text: str, tools: Collection[str]) -> Verdict:
    """Whether ``text``, which starts with a fence, a tag, a bracket or a brace, is a written
    call of one of ``tools`` ("call"), is not ("text"), or could still become one ("open")."""
    if PROGRAM_TOOL in tools and _PROGRAM_OPEN.match(text):
        return "call"
    rest = text
    if text.startswith("`"):
        if "```".startswith(text):
            return "open"
        opened = _FENCE_OPEN.match(text)
        if opened is None:
            return "text"
        rest = text[opened.end() :]
    elif text.startswith("<"):
        tag = next((t for t in _OPENING_TAGS if text.startswith(t) or t.startswith(text)), None)
        if tag is None:
            return "text"
        rest = text[len(tag) :]
    rest = rest.lstrip()
    if rest.startswith("["):  # a list of calls
        rest = rest[1:].lstrip()
    if not rest:
        return "open"
    if not rest.startswith("{"):
        return "text"
    rest = rest.lstrip("{ \t\r\n")
    verdicts = {_named(rest, keys, tools) for keys in _KEYS}
    return "call" if "call" in verdicts else "open" if "open" in verdicts else "text"


def _named(rest: str, keys: list[str], tools: Collection[str]) -> Verdict:
    """``rest`` as ``keys`` (whitespace between them) then a tool's name and its quote."""
    for key in keys:
        rest = rest.lstrip()
        if key.startswith(rest):
            return "open"
        if not rest.startswith(key):
            return "text"
        rest = rest[len(key) :]
    end = rest.find(keys[-1])
    if end < 0:
        return "open" if any(t.startswith(rest) for t in tools) else "text"
    return "call" if rest[:end] in tools else "text"
