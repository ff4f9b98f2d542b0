"""Check the arithmetic a model wrote in its answer, with the safe calculator.

Small models reason well enough in text but slip on the sums in it (``3.79 + 4.5 = 8.38``), and
a tool they must remember to call does not stop that. This finds every ``expression = number``
step in an answer, in plain text or LaTeX (``\\frac{20.10}{5} = 4.02``, ``3.5 \\times 60 =
210``, ``50 \\cdot 20\\% = 10``), evaluates the expression with ``tools.calculator.evaluate`` and
reports the steps whose written result is wrong (hex literals such as ``0x10000`` count as
numbers). The agent sends those back to the model once, so it can redo the steps that follow
from a wrong value (the CRITIC pattern: a tool verifies the model's output, the model revises).

It only reports what it is sure of:

* the left side must be numbers and operators only; a step with a word or a variable in it
  (``60d = 2400``, ``3.5 hours x 60 = 210``) is not checked;
* the right side must be one number, not another expression;
* a result rounded to the decimals it shows is right (``20.01 / 5 = 4.00``), and so is a whole
  number within 0.5 (``100 / 3 = 33``);
* a product after a ``/`` may be meant as the divisor, as people write it: ``64 * 1024 / 64 *
  1024 = 1`` is right;
* anything the calculator refuses is skipped, never reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from tools._units import agrees, find_unit_steps, value_of
from tools.calculator import format_result

__all__ = ["Miscalculation", "find_miscalculations"]

MAX_REPORTED: Final = 3

_LATEX_SYMBOLS: Final = (
    (r"\times", "*"),
    (r"\cdot", "*"),
    (r"\div", "/"),
    (r"\left", ""),
    (r"\right", ""),
    (r"\approx", "="),
    (r"\%", "%"),
    (r"\$", ""),
    (r"\,", ""),
    (r"\!", ""),
    (r"\;", " "),
    ("×", "*"),  # noqa: RUF001 - the multiplication sign models write
    ("·", "*"),
    ("÷", "/"),
    ("−", "-"),  # noqa: RUF001 - the minus sign models write
    ("≈", "="),
    ("$", ""),
)
_MATH_DELIMITERS: Final = re.compile(r"\\[()\[\]]")
_IMPLICIT_TIMES: Final = re.compile(r"(?<=[\d)])\s*\(")
_FRAC: Final = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_TEXT: Final = re.compile(r"\\(?:text|mathrm|textbf|mbox|operatorname)\s*\{[^{}]*\}")
_COMMAND: Final = re.compile(r"\\[A-Za-z]+")
_HEX: Final = re.compile(r"\b0[xX][0-9a-fA-F]+\b")
_THOUSANDS: Final = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d])")
_PERCENT: Final = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_TIMES_X: Final = re.compile(r"(?<=[\d)])\s+[xX]\s+(?=[\d(])")
# ``=`` alone: not part of ``==``, ``<=``, ``>=`` or ``!=``
_EQUALS: Final = re.compile(r"(?<![=<>!])=(?!=)")
_ARITH_CHARS: Final = re.compile(r"[0-9.+\-*/()^ ]+$")
_NUMBER_START: Final = re.compile(r"\s*(-?\d+(?:\.\d+)?)(\s*%)?")
# what follows a "/" up to the next + or -: "64 * 1024 / 64 * 1024" means (64*1024)/(64*1024)
_DIVISOR_RUN: Final = re.compile(r"/\s*(\d+(?:\.\d+)?(?:\s*[*/]\s*\d+(?:\.\d+)?)+)")
_OPERATOR: Final = re.compile(r"\d\s*[-+*/^]\s*[\d(]|\)\s*[-+*/^]|[\d)]\s*\(")


@dataclass(frozen=True, slots=True)
class Miscalculation:
    """One step whose written result the calculator does not confirm."""

    expression: str  # as evaluated, e.g. "3.79 + 4.5"
    written: str  # what the model wrote, e.g. "8.38"
    correct: str  # the calculator's result, e.g. "8.29"
    # another reading of the step the check could not rule out, with its value ("a / b * c"
    # meant as "a / (b * c)"): both are said, and the answer is not settled with ``correct``
    other: str = ""

    @property
    def sure(self) -> bool:
        """The step reads one way only, so ``correct`` is surely the value meant."""
        return not self.other

    def __str__(self) -> str:
        also = f" (read as {self.other})" if self.other else ""
        return f"{self.expression} = {self.correct}{also}, not {self.written}"


def find_miscalculations(text: str) -> list[Miscalculation]:
    """The wrong ``expression = number`` steps in ``text``, first ones first (at most 3)."""
    found: list[Miscalculation] = []
    seen: set[tuple[str, str]] = set()
    for plain, worded in zip(
        _normalize(text).splitlines(), _normalize(text, units=True).splitlines(), strict=True
    ):
        steps = [Miscalculation(*step) for step in find_unit_steps(worded)]
        with_units = {s.written.split()[0] for s in steps}
        sides = _EQUALS.split(plain)
        for left, right in zip(sides, sides[1:], strict=False):
            step = _check_step(left, right)  # the same step read without its units: said once
            if step is not None and step.written not in with_units:
                steps.append(step)
        for wrong in steps:
            if (wrong.expression, wrong.written) not in seen:
                seen.add((wrong.expression, wrong.written))
                found.append(wrong)
                if len(found) == MAX_REPORTED:
                    return found
    return found


def _normalize(text: str, units: bool = False) -> str:
    """LaTeX and typography to plain Python arithmetic, one display line per line; with
    ``units``, the words of ``\\text{ minutes}`` are kept (the unit check reads them)."""
    out = _MATH_DELIMITERS.sub(" ", _TEXT.sub(lambda m: _words(m.group(0)) if units else " ", text))
    for _ in range(4):  # nested fractions, innermost first
        out, n = _FRAC.subn(r"((\1)/(\2))", out)
        if not n:
            break
    for symbol, plain in _LATEX_SYMBOLS:
        out = out.replace(symbol, plain)
    out = _COMMAND.sub(" ", out)  # \boxed, \quad, ... : keep what they wrap
    out = out.replace("{", "(").replace("}", ")")
    out = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), out)
    out = _HEX.sub(lambda m: str(int(m.group(0), 16)), out)  # 0x10000 / 256 = 256
    return _TIMES_X.sub(" * ", out)


def _words(command: str) -> str:
    """What ``\\text{...}`` (or ``\\mathrm{...}``) shows."""
    return " " + command[command.index("{") + 1 : -1].replace("\n", " ") + " "


def _check_step(left: str, right: str) -> Miscalculation | None:
    expression = _trailing_expression(left)
    written = _NUMBER_START.match(right)
    if expression is None or written is None:
        return None
    if right[written.end() : written.end() + 1].isalpha():
        return None  # "2x + 200": a coefficient, not a result
    rest = right[written.end() :].lstrip()
    punctuation = rest[:1] in {".", ","} and rest[1:2] in {"", " ", "\n"}
    if rest[:1] in {"+", "-", "*", "/", "^", "(", ".", ","} and not punctuation:
        return None  # the right side is another expression (or a list), not a result
    value = _value(expression)
    if value is None:
        return None
    number = written.group(1)
    shown = float(number)
    candidates = [shown, shown / 100] if written.group(2) else [shown]
    readings = [value]
    grouped = _DIVISOR_RUN.sub(r"/ (\1)", expression)  # "a * b / c * d": a*b / (c*d)
    if grouped != expression and (other := _value(grouped)) is not None:
        readings.append(other)
    if any(agrees(v, c, number) for v in readings for c in candidates):
        return None
    also = f"{' '.join(grouped.split())} = {format_result(readings[1])}" if readings[1:] else ""
    return Miscalculation(" ".join(expression.split()), number, format_result(value), also)


def _trailing_expression(left: str) -> str | None:
    """The longest arithmetic expression that ends ``left``, if it has an operator in it."""
    tail = left.rstrip()
    start = len(tail)
    while start > 0 and (_ARITH_CHARS.match(tail[start - 1]) or tail[start - 1] == "%"):
        start -= 1
    chars = tail[start:]
    head = chars.lstrip()
    if head.startswith("- ") and not tail[:start].strip(" :*"):
        chars = head[2:]  # a list item's dash
    elif head[:1] in {"+", "*", "/", "^", "-"} and tail[:start].rstrip()[-1:].isalnum():
        return None  # the expression goes on into a word or a variable: "B + 12 + 2"
    # try the longest candidate first, then drop leading tokens ("Step 2. 5 + 3" -> "5 + 3")
    for i in range(len(chars)):
        if i and (not (chars[i].isdigit() or chars[i] == "(") or chars[i - 1] in "0123456789."):
            continue
        candidate = chars[i:].strip()
        if not _OPERATOR.search(candidate) or candidate.count("(") != candidate.count(")"):
            continue
        if _value(candidate) is not None:
            return candidate
    return None


def _value(expression: str) -> float | None:
    python = _IMPLICIT_TIMES.sub("*(", _PERCENT.sub(r"(\1/100)", expression))
    return value_of(python.replace("^", "**"))
