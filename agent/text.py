"""Text helpers every layer uses: one way to shorten text for a message, a log or a screen."""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, limit: int, *, marker: str = ELLIPSIS) -> str:
    """``text`` cut to at most ``limit`` characters, ``marker`` included, when it is longer.

    >>> clip("abcdef", 4)
    'abc…'
    >>> clip("abc", 4)
    'abc'
    """
    if limit < len(marker):
        raise ValueError(f"limit {limit} leaves no room for the marker {marker!r}")
    if len(text) <= limit:
        return text
    return text[: limit - len(marker)] + marker
