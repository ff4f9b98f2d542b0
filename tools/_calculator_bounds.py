"""What keeps the calculator cheap: its limits, and every operation whose size can explode
(integers, powers, factorials, ``round``) checked against them before any work is done.

The functions a model may call live here too, each bounded the same way.
"""

from __future__ import annotations

import ast
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from agent.errors import ConfigError, ToolError
from agent.text import clip

Number = int | float

_LOG10_2: Final = math.log10(2)


@dataclass(frozen=True, slots=True)
class CalculatorLimits:
    """Bounds checked before any work is done. Defaults suit a tool-calling model."""

    max_length: int = 500
    """Characters in the expression."""
    max_depth: int = 50
    """Nesting levels: parentheses, and operands/arguments nested inside each other."""
    max_digits: int = 1000
    """Digits of any integer, intermediate or final. Must stay below Python's str limit (4300)."""
    max_round_digits: int = 300
    """Largest ``|ndigits|`` for ``round(x, ndigits)``: ``round(5, -10**9)`` builds 10**10**9."""

    def __post_init__(self) -> None:
        # Results are rendered with str(), which Python refuses past its int-digit limit.
        str_limit = sys.get_int_max_str_digits()  # 0 means no limit
        if self.max_digits < 1 or (str_limit and self.max_digits >= str_limit):
            raise ConfigError(
                f"CalculatorLimits.max_digits={self.max_digits}: must be between 1 and "
                f"{str_limit - 1} (Python's int-to-str digit limit)"
            )


DEFAULT_LIMITS: Final = CalculatorLimits()


def _snippet(node: ast.AST, limit: int = 60) -> str:
    # Only ever called on the way to a refusal: unparsing every node as it is evaluated
    # would make a long flat sum quadratic.
    return clip(ast.unparse(node), limit)


def _about_digits(digits: float) -> str:
    return "far more than a million" if math.isinf(digits) else f"about {int(digits) + 1:,}"


def _check_int(n: int, node: ast.AST, limits: CalculatorLimits) -> int:
    # bit_length is O(1); str() is only reached for numbers close to the limit, which are
    # below Python's 4300-digit str() ceiling by construction.
    estimate = n.bit_length() * _LOG10_2
    if estimate > limits.max_digits + 1 or (
        estimate > limits.max_digits - 1 and len(str(abs(n))) > limits.max_digits
    ):
        raise ToolError(
            f"{_snippet(node)} is too large: about {int(estimate) + 1:,} digits "
            f"(the limit is {limits.max_digits:,} digits)"
        )
    return n


def _check(value: Number, node: ast.AST, limits: CalculatorLimits) -> Number:
    if isinstance(value, int):
        return _check_int(value, node, limits)
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, float):
        problem = (
            "is undefined (not a number)"
            if math.isnan(value)
            else "overflows: the result is too large for a floating-point number"
        )
    elif isinstance(value, complex):
        problem = "is a complex number; only real results are supported"
    else:
        problem = "did not produce a number"
    raise ToolError(f"{_snippet(node)} {problem}")


def _power(base: Number, exponent: Number, node: ast.AST, limits: CalculatorLimits) -> Number:
    # Estimate the size of an integer power *before* computing it: 9**9**9 must be refused in
    # microseconds, not after minutes of work and gigabytes of memory.
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # An exponent past 2**64 (with |base| >= 2) is astronomically over any limit, and
        # float(exponent) could overflow: skip the arithmetic.
        too_big = exponent.bit_length() > 64
        digits = math.inf if too_big else exponent * math.log10(abs(base))
        if digits > limits.max_digits + 1:
            what = _snippet(node)
            power = f"{base} ** {exponent}"
            detail = "" if too_big or what == power else f" ({power})"
            raise ToolError(
                f"{what} is too large{detail}: it would have {_about_digits(digits)} digits "
                f"(the limit is {limits.max_digits:,} digits)"
            )
    try:
        result: Number = base**exponent
    except ZeroDivisionError:
        raise ToolError(
            f"{_snippet(node)}: division by zero (0 cannot be raised to a negative power)"
        ) from None
    except OverflowError:
        raise ToolError(
            f"{_snippet(node)} overflows: the result is too large for a floating-point number"
        ) from None
    return _check(result, node, limits)


def _as_int(value: Number, func: str) -> int:
    if isinstance(value, int):
        return value
    if value.is_integer():
        return int(value)
    raise ToolError(f"{func}() needs a whole number, got {value!r}")


def _factorial(args: list[Number], limits: CalculatorLimits) -> Number:
    n = _as_int(args[0], "factorial")
    if n < 0:
        raise ToolError(f"factorial({n}) is undefined: factorial needs a non-negative whole number")
    # lgamma(n+1) = ln(n!); the coarse cut keeps lgamma's float conversion in range.
    digits = math.inf if n > 10**6 else math.lgamma(n + 1) / math.log(10)
    if digits > limits.max_digits:
        shown = f"factorial({n})" if n <= 10**6 else "the factorial of a number over 1,000,000"
        raise ToolError(
            f"{shown} is too large: it would have {_about_digits(digits)} digits "
            f"(the limit is {limits.max_digits:,} digits)"
        )
    return math.factorial(n)


def _round(args: list[Number], limits: CalculatorLimits) -> Number:
    if len(args) == 1:
        return round(args[0])
    ndigits = _as_int(args[1], "round")
    if abs(ndigits) > limits.max_round_digits:
        raise ToolError(
            f"round(x, {ndigits}): ndigits must be between -{limits.max_round_digits} "
            f"and {limits.max_round_digits}"
        )
    return round(args[0], ndigits)


def _log(args: list[Number], limits: CalculatorLimits) -> Number:
    if len(args) == 2 and args[1] == 1:
        raise ToolError("log(x, 1) is undefined: a logarithm's base cannot be 1")
    return math.log(*args)


def _unary(fn: Callable[[float], Number]) -> Callable[[list[Number], CalculatorLimits], Number]:
    return lambda args, limits: fn(args[0])


# name -> (implementation, min args, max args or None for unbounded)
_FUNCTIONS: Final[
    dict[str, tuple[Callable[[list[Number], CalculatorLimits], Number], int, int | None]]
] = {
    "sqrt": (_unary(math.sqrt), 1, 1),
    "log": (_log, 1, 2),
    "log10": (_unary(math.log10), 1, 1),
    "log2": (_unary(math.log2), 1, 1),
    "exp": (_unary(math.exp), 1, 1),
    "sin": (_unary(math.sin), 1, 1),
    "cos": (_unary(math.cos), 1, 1),
    "tan": (_unary(math.tan), 1, 1),
    "asin": (_unary(math.asin), 1, 1),
    "acos": (_unary(math.acos), 1, 1),
    "atan": (_unary(math.atan), 1, 1),
    "abs": (_unary(abs), 1, 1),
    "round": (_round, 1, 2),
    "floor": (_unary(math.floor), 1, 1),
    "ceil": (_unary(math.ceil), 1, 1),
    "min": (lambda args, limits: min(args), 1, None),
    "max": (lambda args, limits: max(args), 1, None),
    "factorial": (_factorial, 1, 1),
    "hypot": (lambda args, limits: math.hypot(*args), 1, None),
}
