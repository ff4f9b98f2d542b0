"""Words a signature regex cannot match without: skip the regex when the input lacks them.

A lookup searches every entry's regex in the input; at 10,000 imported log templates that is
10,000 searches over a stack trace of several thousand characters. Most regexes hold a literal
word that must appear, whole, in any text they match (``Receiving`` and ``block`` in
``(?m)(?<!\\S)Receiving\\s+block\\s+blk_(?P<v0>.*?)$``): the input's set of words rules them out
before the search.

A word counts only where the regex fixes both of its edges: next to a literal non-word
character, a run of whitespace, ``\\b``, ``(?<!\\S)`` or a line anchor. ``blk_`` above is not
required as a word (the wildcard after it may continue it), nor is anything inside an
alternative, an optional part or a repetition, nor anything of a case-insensitive or ASCII-only
pattern: when unsure, no word is required and the regex is always searched.
``tests/known_errors/test_prefilter.py`` checks that filtering never changes which entries match.
"""

from __future__ import annotations

import re
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

_WORD_CHAR = re.compile(r"\w")
_TEXT_WORD = re.compile(r"\w+")
_EDGE = "edge"  # matches only non-word text (or nothing) at a fixed place: bounds a word
_MAYBE_EDGE = "maybe"  # optional non-word text (``\s*``): an edge only if what is past it is
_UNKNOWN = "unknown"
_ANCHORS = frozenset(
    {c.AT_BEGINNING, c.AT_BEGINNING_LINE, c.AT_BEGINNING_STRING, c.AT_BOUNDARY, c.AT_END,
     c.AT_END_LINE, c.AT_END_STRING}
)  # fmt: skip
_NONWORD_CATEGORIES = frozenset({c.CATEGORY_SPACE, c.CATEGORY_LINEBREAK, c.CATEGORY_NOT_WORD})
_NOT_AFTER_NONSPACE = (c.IN, [(c.CATEGORY, c.CATEGORY_NOT_SPACE)])  # the \S of (?<!\S)


def text_words(text: str) -> frozenset[str]:
    """The input's words, as ``required_words`` names them."""
    return frozenset(_TEXT_WORD.findall(text))


def _nonword_class(items: Any) -> bool:
    """An ``IN`` set that holds only non-word characters (``\\s``, ``[ \\t]``)."""
    for op, av in items:
        if op is c.CATEGORY and av in _NONWORD_CATEGORIES:
            continue
        if op is c.LITERAL and not _WORD_CHAR.match(chr(av)):
            continue
        return False
    return True


def _flatten(pattern: Any, out: list[str], flags: int) -> None:
    """``pattern``'s items that every match goes through, in order: one character each for a
    literal, else one of the markers above."""
    for op, av in pattern:
        if op is c.LITERAL:
            out.append(_UNKNOWN if flags & re.IGNORECASE else chr(av))
        elif op is c.AT:
            out.append(_EDGE if av in _ANCHORS else _UNKNOWN)
        elif op is c.SUBPATTERN:
            _group, add, remove, sub = av
            _flatten(sub, out, (flags | add) & ~remove)
        elif op is c.ATOMIC_GROUP:
            _flatten(av, out, flags)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, _high, sub = av
            inner = list(sub)
            if len(inner) == 1 and inner[0][0] is c.IN and _nonword_class(inner[0][1]):
                out.append(_EDGE if low >= 1 else _MAYBE_EDGE)
            else:
                out.append(_UNKNOWN)
        elif op is c.IN and _nonword_class(av):
            out.append(_EDGE)
        elif op is c.ASSERT_NOT and av[0] == -1 and list(av[1]) == [_NOT_AFTER_NONSPACE]:
            out.append(_EDGE)  # (?<!\S): the line's start or whitespace before, as a template's
        else:
            out.append(_UNKNOWN)


def _bounded(items: list[str], start: int, step: int) -> bool:
    """Whether the word next to ``items[start]`` (walking by ``step``) has a fixed edge there."""
    i = start
    while 0 <= i < len(items):
        item = items[i]
        if item == _MAYBE_EDGE:
            i += step
            continue
        if item == _EDGE:
            return True
        return len(item) == 1 and not _WORD_CHAR.match(item)
    return False  # the regex's own start or end: ``search`` may match inside a longer word


def required_words(pattern: re.Pattern[str]) -> frozenset[str]:
    """Words any text that ``pattern`` matches holds whole (``text_words``); empty when unsure."""
    if pattern.flags & (re.IGNORECASE | re.ASCII) or isinstance(pattern.pattern, bytes):
        return frozenset()
    try:
        parsed = _parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # a pattern ``re`` compiled but this parser version reads otherwise
        return frozenset()
    items: list[str] = []
    _flatten(parsed, items, pattern.flags)
    words: set[str] = set()
    i = 0
    while i < len(items):
        if len(items[i]) == 1 and _WORD_CHAR.match(items[i]):
            j = i
            while j < len(items) and len(items[j]) == 1 and _WORD_CHAR.match(items[j]):
                j += 1
            if _bounded(items, i - 1, -1) and _bounded(items, j, 1):
                words.add("".join(items[i:j]))
            i = j
        else:
            i += 1
    return frozenset(words)


__all__ = ["required_words", "text_words"]
