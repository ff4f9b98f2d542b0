"""Stream the ``answer`` of a ``final_answer`` call while its JSON arguments are still arriving.

In ``required`` mode the answer travels inside tool-call arguments, so without this a user would
see nothing until the whole call had been generated (seconds, on a CPU-served model).
"""

from __future__ import annotations

import json
import re

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
