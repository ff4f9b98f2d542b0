"""Recover tool calls that a model wrote as text instead of as ``tool_calls``.

Small models under ``tool_choice=auto`` often put the call in ``content``: bare JSON, a fenced
```json block, or Hermes-style ``<tool_call>...</tool_call>`` tags, often after some reasoning
and sometimes in ``<tools>`` tags (Qwen2.5-Coder-1.5B copies the tag its chat template lists
the tools in), followed by a result the model made up. A text counts as a call only when a
block parses to an object (or list of objects) naming a *known* tool, so ordinary answers that
happen to contain JSON are left alone; blocks that are not JSON (a ```python fence) are skipped.
The caller drops the text with the call: what follows it is the model guessing the result.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Container
from typing import Any

from langchain_core.messages.tool import ToolCall

from agent.tooling import ArgumentsDecodeError, parse_arguments

_TAGGED = re.compile(r"<(tool_call|tools)>\s*(.*?)\s*(?:</\1>|$)", re.DOTALL)
_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def recover_tool_calls(content: str, known_tools: Container[str]) -> list[ToolCall]:
    """The tool calls written in ``content``, or ``[]`` if it holds none for a known tool."""
    text = content.strip()
    if not text:
        return []
    tagged = [body for _tag, body in _TAGGED.findall(text)]
    candidates = tagged or _FENCED.findall(text) or [text]
    calls: list[ToolCall] = []
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        for item in value if isinstance(value, list) else [value]:
            call = _as_call(item, known_tools)
            if call is None:
                return []
            calls.append(call)
    return calls


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
    return ToolCall(type="tool_call", id=f"call_{uuid.uuid4().hex[:12]}", name=name, args=args)
