"""Steps with units of time or data in them, for the answer check (``tools.arithmetic_check``).

A small model converts units in its head and slips there more than anywhere: "2.5 minutes is
equal to 1500 seconds", "150 seconds / 1000 milliseconds = 1.5", "300 seconds = 28 hours"
(answers saved by bench/agent_tasks.py's documents suite, where a default in milliseconds must
be fitted into minutes or days). The plain check skips these, as a step with words in it. This
reads a step whose numbers carry units (``2.5 minutes``, ``1000 ms``, ``64 KiB``), on the left
of ``=``, "is", "is equal to" or "equals", or restated in brackets ("60000 ms (1 hour)"),
evaluates it in base units (seconds, bytes) with the safe calculator, and reports it when its
written result is wrong.

It only reports what it is sure of:

* every unit must be one it knows (time from nanoseconds to weeks, data from bits to TiB);
  months and years, whose length varies, are not; ``KB``/``MB``/``GB`` may mean 1000 or 1024
  and a step is right with either;
* the two sides must have the same dimension: a duration on both, or a ratio of the same kind
  ("150 seconds / 1000 ms = 150") with a bare number on the right; "3 hours * 60 = 180
  minutes" (a conversion factor without its unit) is not judged by units;
* the step must be wrong read with its units *and* read as bare numbers (``5 days * 24 = 120
  hours`` is right read the second way, as the model meant it);
* a lone quantity after a word that makes it part of a sentence's arithmetic ("divided by 1000
  ms = ...") is not read.

Dimensions are checked without a parser: the step is evaluated twice, the second time with
the second and the byte scaled by different primes (7 and 13). A product or ratio of
quantities then scales by a power of each, so two sides of the same dimension scale alike, and
a sum of different dimensions scales like neither.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, NamedTuple

from agent.errors import ToolError
from tools.calculator import evaluate, format_result

# unit -> (dimension, size in seconds or bytes); the sizes of KB, MB, GB, TB are the decimal ones
_TIME: Final = {
    ("ns", "nanosecond", "nanoseconds"): 1e-9,
    ("µs", "us", "microsecond", "microseconds"): 1e-6,
    ("ms", "msec", "msecs", "millisecond", "milliseconds"): 1e-3,
    ("s", "sec", "secs", "second", "seconds"): 1.0,
    ("min", "mins", "minute", "minutes"): 60.0,
    ("h", "hr", "hrs", "hour", "hours"): 3600.0,
    ("day", "days"): 86400.0,
    ("week", "weeks"): 604800.0,
}
_DATA: Final = {
    ("bit", "bits"): 0.125,
    ("byte", "bytes"): 1.0,
    ("kib",): 1024.0,
    ("mib",): 1024.0**2,
    ("gib",): 1024.0**3,
    ("tib",): 1024.0**4,
    ("kb",): 1e3,
    ("mb",): 1e6,
    ("gb",): 1e9,
    ("tb",): 1e12,
}
_BINARY_TOO: Final = {"kb": 1024.0, "mb": 1024.0**2, "gb": 1024.0**3, "tb": 1024.0**4}
UNITS: Final[dict[str, tuple[str, float]]] = {
    name: (dimension, size)
    for dimension, table in (("time", _TIME), ("data", _DATA))
    for names, size in table.items()
    for name in names
}
# the scale factors of the dimension check: any two primes that no unit size is a power of
_SCALE: Final = {"time": 7.0, "data": 13.0}

_UNIT: Final = "|".join(sorted((re.escape(u) for u in UNITS), key=len, reverse=True))
_QUANTITY: Final = re.compile(rf"(\d+(?:\.\d+)?)(?:\s*({_UNIT})(?![\w/]))?", re.IGNORECASE)
_TOKEN: Final = re.compile(rf"\s*(?:{_QUANTITY.pattern}|([-+*/()]))", re.IGNORECASE)
_EQUALITY: Final = re.compile(r"(?<![=<>!])=(?!=)|\b(?:is equal to|equals|is the same as|is|are)\b")
# a quantity restated in another unit in brackets: "60000 milliseconds (1 minute)"
_RESTATED: Final = re.compile(
    rf"(?<![\w.])(\d+(?:\.\d+)?\s*(?:{_UNIT}))\s*\(\s*(?:i\.e\.,?\s*|=\s*)?"
    rf"(\d+(?:\.\d+)?\s*(?:{_UNIT}))\s*\)",
    re.IGNORECASE,
)
_SPELLED: Final = ((re.compile(r"\bdivided by\b"), "/"), (re.compile(r"\bmultiplied by\b"), "*"))
# words after which a lone quantity is an operand of the sentence's arithmetic, not a claim
_OPERAND_AFTER: Final = re.compile(
    r"\b(?:by|of|per|over|into|and|from|plus|minus|times|than|divide|multiply|add|subtract)\W*$",
    re.IGNORECASE,
)


class UnitStep(NamedTuple):
    """A wrong step with units: ``2.5 minutes = 150 seconds, not 1500 seconds``."""

    expression: str
    written: str
    correct: str


def find_unit_steps(line: str) -> Iterator[UnitStep]:
    """The wrong steps with units in one line of plain text (LaTeX already made plain)."""
    for m in _RESTATED.finditer(line):  # "60000 milliseconds (1 hour)"
        if line[: m.start()].rstrip()[-1:] in {"+", "-", "*", "/", "^", "("}:
            continue  # "64 * 1024 bytes (64 KB)": the bracket restates the whole product
        wrong = _check(m.group(1), m.group(2))
        if wrong is not None:
            yield wrong
    for pattern, operator in _SPELLED:
        line = pattern.sub(f" {operator} ", line)
    marks = list(_EQUALITY.finditer(line))
    for i, mark in enumerate(marks):
        start = marks[i - 1].end() if i else 0
        end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
        wrong = _check(line[start : mark.start()], line[mark.end() : end])
        if wrong is not None:
            yield wrong


def _check(left: str, right: str) -> UnitStep | None:
    found = _trailing_quantities(left)
    result = _QUANTITY.match(right.lstrip())
    if found is None or result is None:
        return None
    rest = right.lstrip()[result.end() :].lstrip()
    if rest[:1] in {"+", "-", "*", "/", "^", "(", "%"} or rest[:1].isdigit():
        return None  # the right side is another expression, not a result
    tokens, text = found
    number, unit = result.group(1), result.group(2)
    dimension, size = UNITS[unit.lower()] if unit else ("", 1.0)
    readings = [r for binary in (True, False) if (r := _reading(tokens, binary)) is not None]
    if unit is None and rest[:1].isalpha() and not any(_same_scale(s, 1.0) for _, s in readings):
        return None  # "1000 ms = 1 check": a count of something, with a duration on the left
    right_scale = _SCALE[dimension] if unit else 1.0
    same = [(v, s) for v, s in readings if _same_scale(s, right_scale)]
    if not same:
        return None  # the sides differ in dimension: not a step to judge by units
    sizes = [_BINARY_TOO.get(unit.lower(), size), size] if unit else [1.0]
    bare = value_of("".join(t.number or t.operator for t in tokens))
    written = float(number)
    answers = [v / s for v, _ in same for s in sizes] + ([bare] if bare is not None else [])
    if any(agrees(v, written, number) for v in answers):
        return None
    correct = format_result(float(f"{same[0][0] / sizes[0]:.6g}"))
    unit_text = f" {unit}" if unit else ""
    return UnitStep(text, f"{number}{unit_text}", f"{correct}{unit_text}")


@dataclass(frozen=True, slots=True)
class _Token:
    number: str = ""
    unit: str = ""
    operator: str = ""


def _trailing_quantities(left: str) -> tuple[list[_Token], str] | None:
    """The longest run of numbers, units and operators that ends ``left`` and has a unit in it,
    as tokens and as text; ``None`` when there is none, or when it goes on into a word."""
    left = left.rstrip(" :,")
    for start in (m.start() for m in re.finditer(r"[\d(]", left)):
        if start and (left[start - 1].isalnum() or left[start - 1] in "._"):
            continue
        tokens = _tokens(left[start:])
        if tokens is None or not any(t.unit for t in tokens):
            continue
        before = left[:start].rstrip()
        if before[-1:] in {"+", "-", "*", "/", "^", "(", "%"}:
            return None  # "x * 2 hours": the expression goes on into a variable
        if not any(t.operator for t in tokens) and _OPERAND_AFTER.search(before):
            return None  # "divided by 1000 ms": a lone quantity inside a sentence's arithmetic
        text = re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", " ".join(left[start:].split())))
        return tokens, text
    return None


def _tokens(text: str) -> list[_Token] | None:
    tokens: list[_Token] = []
    at = 0
    while at < len(text.rstrip()):
        m = _TOKEN.match(text, at)
        if m is None or m.end() == at:
            return None
        tokens.append(_Token(m.group(1) or "", m.group(2) or "", m.group(3) or ""))
        at = m.end()
    return tokens or None


def _reading(tokens: list[_Token], binary: bool) -> tuple[float, float] | None:
    """The value in base units and how it scales when the base units are scaled."""
    values = []
    for scaled in (False, True):
        parts = []
        for t in tokens:
            if not t.number:
                parts.append(t.operator)
                continue
            dimension, size = UNITS[t.unit.lower()] if t.unit else ("", 1.0)
            if binary and t.unit:
                size = _BINARY_TOO.get(t.unit.lower(), size)
            if scaled and t.unit:
                size *= _SCALE[dimension]
            parts.append(f"({t.number} * {size!r})")
        value = value_of("".join(parts))
        if value is None or value == 0:
            return None
        values.append(value)
    return values[0], values[1] / values[0]


def _same_scale(a: float, b: float) -> bool:
    """Two scalings of the dimension check that are one dimension's (1.0: a bare number)."""
    return math.isclose(a, b, rel_tol=1e-6)


def value_of(expression: str) -> float | None:
    """``expression`` (plain Python arithmetic) by the safe calculator; ``None`` if refused."""
    try:
        return float(evaluate(expression))
    except (ToolError, ValueError, OverflowError, ZeroDivisionError):
        return None


def agrees(value: float, shown: float, text: str) -> bool:
    """``value`` written as ``text`` is right: equal once rounded to the decimals shown."""
    if not math.isfinite(value):
        return True  # nothing sensible to say
    decimals = len(text.split(".")[1]) if "." in text else 0
    tolerance = 0.5 * 10.0**-decimals
    return abs(value - shown) <= tolerance * (1 + 1e-9) + 1e-9 * abs(value)
