"""What of a reply streams to the user as text.

``AnswerStream``: the ``answer`` of a ``final_answer`` call while its JSON arguments are still
arriving. In ``required`` mode the answer travels inside tool-call arguments, so without this a
user would see nothing until the whole call had been generated (seconds, on a CPU-served model).

``WrittenCallFilter``: a reply's text without a tool call the model wrote in it (where one
starts is ``agent.loop._recovery.call_verdict``'s, as for ``cut_written_call``), so neither
a user nor an HTTP client sees the call's JSON, and the result the model made up after it, as
if it were the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection

from agent.loop._recovery import CALL_STARTS, call_verdict

_START = re.compile(r'"answer"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class AnswerStream:
    """Feed argument deltas; get back the newly decoded characters of the answer string."""

    def __init__(self) -> None:
        self._raw = ""
        self._pos = -1  # index in _raw of the next undecoded character of the answer value
        self._done = False

    def feed(self, delta: str) -> str:
        if self._done:
            return ""
        self._raw += delta
        if self._pos < 0:
            match = _START.search(self._raw)
            if match is None:
                return ""
            self._pos = match.end()
        out: list[str] = []
        raw, i = self._raw, self._pos
        while i < len(raw):
            ch = raw[i]
            if ch == '"':
                self._done = True
                break
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            if i + 1 >= len(raw):
                break  # the escape continues in the next delta
            code = raw[i + 1]
            if code == "u":
                # a high surrogate needs its low half (the next escape) to make one character
                width = 12 if raw[i + 2 : i + 4].lower() in ("d8", "d9", "da", "db") else 6
                if i + width > len(raw):
                    break
                out.append(_decode_unicode(raw[i : i + width]))
                i += width
            else:
                out.append(_ESCAPES.get(code, code))
                i += 2
        self._pos = i
        return "".join(out)


def _decode_unicode(escape: str) -> str:
    try:
        value: str = json.loads(f'"{escape}"')
    except json.JSONDecodeError:
        return ""
    return value


class WrittenCallFilter:
    """A reply's text as it streams, without a tool call the model writes in it.

    Text goes on to ``emit`` as it arrives, except from a fence, tag or brace on, which waits
    until it is clearly not a call of one of ``tools`` (a few characters, mostly). From a call
    on, nothing more is emitted: the call runs as a tool step (``recover_tool_calls``) or is cut
    from the answer (``cut_written_call``), and what follows it is the model guessing a result.
    ``close`` at the reply's end sends what still waits."""

    def __init__(self, tools: Collection[str], emit: Callable[[str], None]) -> None:
        self._tools = tools
        self._emit = emit
        self._held = ""
        self._called = False

    def feed(self, piece: str) -> None:
        if not self._called:
            self._held += piece
            self._drain(final=False)

    def close(self) -> None:
        if not self._called:
            self._drain(final=True)

    def _drain(self, *, final: bool) -> None:
        out: list[str] = []
        held = self._held
        while held:
            start = min((i for i in map(held.find, CALL_STARTS) if i >= 0), default=-1)
            if start < 0:
                out.append(held)
                held = ""
                break
            out.append(held[:start])
            held = held[start:]
            verdict = call_verdict(held, self._tools)
            if verdict == "call":
                self._called, held = True, ""
            elif verdict == "open" and not final:
                break
            else:  # not a call: the character is text, and the search goes on after it
                out.append(held[0])
                held = held[1:]
        self._held = held
        if text := "".join(out):
            self._emit(text)
