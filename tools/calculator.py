"""A safe calculator tool: arithmetic and common math functions, nothing else.

The expression is parsed with ``ast.parse(mode="eval")`` and walked over an allow-list of node
types; nothing is ever handed to ``eval``/``exec``/``compile``. Every way an expression could burn
CPU or memory is bounded (see ``CalculatorLimits``): input length and nesting before parsing,
powers and factorials by estimating their size before computing them, and every intermediate
integer by digit count, so no single operation can be expensive. Every refusal is a
``ToolError`` whose message says what was wrong, so the model can fix its call.

Choices made for small models:

* ``^`` is refused with a hint ("use ** for powers") instead of silently meaning XOR: a model that
  writes ``2^10`` means 1024, and answering 8 would be a confident wrong answer.
* The tool returns the bare result as a short string (``"3456"``), not a dict: the model already
  knows the expression it sent, a bare number is the cheapest thing to echo correctly, and small
  models tend to paste JSON wrappers into their final answers.
* Integers are exact. A float that is integral (and below 1e15, where floats stop being exact
  integers) is shown without ``.0`` (``(1234+5678)/2`` -> ``3456``); other floats are shown with
  15 significant digits, the most a double round-trips, which hides binary noise
  (``0.1+0.2`` -> ``0.3``, not ``0.30000000000000004``) that models would otherwise copy.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from agent.errors import ToolError
from agent.tooling import FunctionTool
from tools._calculator_bounds import (
    _FUNCTIONS,
    DEFAULT_LIMITS,
    CalculatorLimits,
    Number,
    _check,
    _power,
    _snippet,
)

__all__ = [
    "DEFAULT_LIMITS",
    "KNOWN_NAMES",
    "SYNTAX_HINT",
    "CalculatorArgs",
    "CalculatorLimits",
    "evaluate",
    "format_result",
    "make_calculator_tool",
]

_CONSTANTS: Final[dict[str, float]] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY_OPS: Final[dict[type[ast.operator], tuple[str, Callable[[Number, Number], Number]]]] = {
    ast.Add: ("+", lambda a, b: a + b),
    ast.Sub: ("-", lambda a, b: a - b),
    ast.Mult: ("*", lambda a, b: a * b),
    ast.Div: ("/", lambda a, b: a / b),
    ast.FloorDiv: ("//", lambda a, b: a // b),
    ast.Mod: ("%", lambda a, b: a % b),
}

_REFUSED_OPERATORS: Final[dict[type[ast.AST], str]] = {
    ast.BitXor: "'^' is bitwise XOR, not a power: use ** for powers (2**10 = 1024)",
    ast.BitAnd: "'&' (bitwise AND) is not supported",
    ast.BitOr: "'|' (bitwise OR) is not supported",
    ast.LShift: "'<<' (bit shift) is not supported; use * 2**n",
    ast.RShift: "'>>' (bit shift) is not supported; use // 2**n",
    ast.MatMult: "'@' (matrix multiplication) is not supported",
    ast.Invert: "'~' (bitwise NOT) is not supported",
    ast.Not: "'not' is not supported: booleans and logic are not part of the calculator",
}

_CONSTRUCT_NAMES: Final[dict[type[ast.AST], str]] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts/indexing",
    ast.Lambda: "lambda functions",
    ast.ListComp: "list comprehensions",
    ast.SetComp: "set comprehensions",
    ast.DictComp: "dict comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and'/'or' (boolean logic)",
    ast.IfExp: "conditional expressions (x if c else y)",
    ast.List: "lists",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "assignment (:=)",
    ast.Starred: "star-unpacking (*args)",
}

SYNTAX_HINT: Final = (
    "Write one arithmetic expression using numbers, + - * / // % ** and parentheses, "
    "e.g. sqrt(2) * (3 + 4)**2 or log(100, 10)."
)

_POSTFIX_FACTORIAL: Final = re.compile(r"[\w)]\s*!(?!=)")
_FACTORIAL_HINT: Final = "For a factorial write factorial(n), not n!."


class CalculatorArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expression: str = Field(
        description=(
            "One arithmetic expression in Python syntax. Operators: + - * / "
            "// (floor division) % (remainder) ** (power; ^ is NOT power) and parentheses. "
            "Numbers: 42, 3.14, 1e3 (no thousands separators, no units, no '%' signs). "
            "Functions: sqrt, log(x) (natural), log(x, base), log10, log2, exp, sin, cos, tan, "
            "asin, acos, atan (radians), abs, round(x) or round(x, ndigits), floor, ceil, "
            "min(a, b, ...), max(a, b, ...), factorial(n), hypot(a, b, ...). "
            "Constants: pi, e, tau. No variables. Example: (1234 + 5678) / 2 * sqrt(2)"
        ),
    )


KNOWN_NAMES: Final = f"functions: {', '.join(_FUNCTIONS)}; constants: {', '.join(_CONSTANTS)}"


class _Evaluator:
    """Walks an expression tree over the allow-list. Recursion depth is bounded by ``max_depth``."""

    def __init__(self, limits: CalculatorLimits) -> None:
        self.limits = limits

    def evaluate(self, node: ast.AST, depth: int) -> Number:
        if depth > self.limits.max_depth:
            raise ToolError(
                f"the expression is nested too deeply (more than {self.limits.max_depth} levels); "
                "split it into smaller calculations"
            )
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self._unaryop(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        if isinstance(node, ast.Name):
            return self._name(node)
        raise ToolError(self._describe_refused(node))

    def _constant(self, node: ast.Constant) -> Number:
        value = node.value
        # bool is an int subclass: check it first so True/False are refused, not read as 1/0.
        if isinstance(value, bool):
            kind = "booleans (True/False)"
        elif isinstance(value, str | bytes):
            kind = "strings"
        elif isinstance(value, complex):
            kind = "complex numbers (1j)"
        elif isinstance(value, int | float):
            return _check(value, node, self.limits)
        else:
            kind = f"literals like {_snippet(node)}"
        raise ToolError(f"{kind} are not supported: only numbers like 42, 3.14 or 1e3")

    def _binop(self, node: ast.BinOp, depth: int) -> Number:
        # Walk the left spine of a chain like 1+2+3+...+n iteratively, so a long flat sum
        # counts as one level of nesting (as a human reads it) and costs no recursion.
        spine: list[ast.BinOp] = []
        left: ast.AST = node
        while isinstance(left, ast.BinOp):
            self._check_operator(left.op)
            spine.append(left)
            left = left.left
        value = self.evaluate(left, depth + 1)
        for op_node in reversed(spine):
            right = self.evaluate(op_node.right, depth + 1)
            value = self._apply(op_node, value, right)
        return value

    def _check_operator(self, op: ast.operator) -> None:
        if type(op) in _REFUSED_OPERATORS:
            raise ToolError(_REFUSED_OPERATORS[type(op)])
        if not isinstance(op, ast.Pow) and type(op) not in _BINARY_OPS:
            raise ToolError(f"the operator {type(op).__name__} is not supported")

    def _apply(self, node: ast.BinOp, left: Number, right: Number) -> Number:
        if isinstance(node.op, ast.Pow):
            return _power(left, right, node, self.limits)
        symbol, fn = _BINARY_OPS[type(node.op)]
        try:
            result = fn(left, right)
        except ZeroDivisionError:
            raise ToolError(
                f"{_snippet(node)}: division by zero ({symbol} 0 is undefined)"
            ) from None
        except OverflowError:
            raise ToolError(
                f"{_snippet(node)} overflows: the numbers are too large for a floating-point result"
            ) from None
        return _check(result, node, self.limits)

    def _unaryop(self, node: ast.UnaryOp, depth: int) -> Number:
        if type(node.op) in _REFUSED_OPERATORS:
            raise ToolError(_REFUSED_OPERATORS[type(node.op)])
        operand = self.evaluate(node.operand, depth + 1)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
        raise ToolError(f"the operator {type(node.op).__name__} is not supported")

    def _name(self, node: ast.Name) -> Number:
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise ToolError(f"'{node.id}' is a function: call it, e.g. {node.id}(2)")
        raise ToolError(
            f"unknown name '{node.id}': variables are not supported, put the number itself in "
            f"the expression. Known names: {KNOWN_NAMES}"
        )

    def _call(self, node: ast.Call, depth: int) -> Number:
        func = node.func
        if not isinstance(func, ast.Name):
            raise ToolError(self._describe_refused(func))
        name = func.id
        if name not in _FUNCTIONS:
            raise ToolError(f"unknown function '{name}()'. Known names: {KNOWN_NAMES}")
        if node.keywords:
            raise ToolError(
                f"{name}(): keyword arguments are not supported; pass values by position"
            )
        impl, min_args, max_args = _FUNCTIONS[name]
        count = len(node.args)
        if count < min_args or (max_args is not None and count > max_args):
            expected = f"at least {min_args}" if max_args is None else f"{min_args}"
            if max_args not in (None, min_args):
                expected += f" or {max_args}"
            raise ToolError(f"{name}() takes {expected} argument(s), got {count}")
        args = [self.evaluate(arg, depth + 1) for arg in node.args]
        try:
            result = impl(args, self.limits)
        except (ZeroDivisionError, ValueError, OverflowError, TypeError) as exc:
            raise ToolError(self._describe_failure(node, exc)) from None
        return _check(result, node, self.limits)

    @staticmethod
    def _describe_failure(node: ast.Call, exc: Exception) -> str:
        what = _snippet(node)
        if isinstance(exc, ZeroDivisionError):
            return f"{what}: division by zero"
        if isinstance(exc, ValueError):
            # math raises ValueError for every domain error: sqrt(-1), log(0), asin(2), ...
            return f"{what} is undefined (math domain error: argument out of range)"
        if isinstance(exc, OverflowError):
            return f"{what} overflows: the result is too large"
        return f"{what}: {exc}"

    @staticmethod
    def _describe_refused(node: ast.AST) -> str:
        if isinstance(node, ast.Attribute):
            if node.attr in _FUNCTIONS or node.attr in _CONSTANTS:
                # Models often write math.sqrt(2): tell them the spelling that works.
                return (
                    f"attribute access ('{_snippet(node)}') is not allowed: "
                    f"write {node.attr} directly, without a prefix"
                )
            return f"attribute access ('.{node.attr}') is not allowed"
        if isinstance(node, ast.Tuple):
            return (
                "commas are not allowed outside a function call: write one expression, and "
                "write numbers without thousands separators (1234567, not 1,234,567)"
            )
        name = _CONSTRUCT_NAMES.get(type(node), f"'{type(node).__name__}' expressions")
        return f"the calculator does not support {name}: {_snippet(node, 40)}"


def _paren_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


def evaluate(expression: str, limits: CalculatorLimits = DEFAULT_LIMITS) -> Number:
    """Evaluate ``expression`` safely; raise ``ToolError`` saying why if it is refused."""
    if len(expression) > limits.max_length:
        raise ToolError(
            f"the expression is too long ({len(expression):,} characters; the limit is "
            f"{limits.max_length}). Split it into smaller calculations"
        )
    # Models sometimes wrap long expressions over lines; outside parentheses that is a
    # syntax error in Python, though the meaning is obvious.
    text = " ".join(expression.split())
    if not text:
        raise ToolError(f"the expression is empty. {SYNTAX_HINT}")
    # Parentheses leave no node in the tree, so their depth is checked on the text; this also
    # runs before the parser, which has its own (crashing) limits on nesting.
    if _paren_depth(text) > limits.max_depth:
        raise ToolError(
            f"parentheses are nested too deeply (more than {limits.max_depth} levels); "
            "split it into smaller calculations"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        # The common slip gets its own fix: small models copy a generic example instead.
        hint = _FACTORIAL_HINT if _POSTFIX_FACTORIAL.search(text) else SYNTAX_HINT
        raise ToolError(f"not a valid expression ({exc.msg}{where}). {hint}") from None
    except (RecursionError, MemoryError):
        # CPython's parser fails this way on very deep input ("-" * 5000 + "1").
        raise ToolError(
            "the expression is nested too deeply to parse; split it into smaller calculations"
        ) from None
    except ValueError as exc:  # e.g. null bytes, over-long integer literals
        raise ToolError(f"not a valid expression ({exc}). {SYNTAX_HINT}") from None
    try:
        return _Evaluator(limits).evaluate(tree.body, 0)
    except ToolError as exc:
        if "^" in text and "XOR" in str(exc):
            # Told only the rule, the local 0.5B model re-sent its call; a fix it can copy.
            raise ToolError(f"{exc}. Did you mean: {text.replace('^', '**')}") from None
        raise


def format_result(value: Number) -> str:
    """``3456`` for integers and integral floats below 1e15; 15 significant digits otherwise."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")


def make_calculator_tool(limits: CalculatorLimits = DEFAULT_LIMITS) -> FunctionTool[CalculatorArgs]:
    async def calculator(args: CalculatorArgs) -> str:
        # Bounded to well under a millisecond by ``limits``: no need to leave the event loop.
        return format_result(evaluate(args.expression, limits))

    return FunctionTool(
        calculator,
        CalculatorArgs,
        name="calculator",
        description=(
            "Evaluate an arithmetic expression exactly and return the result as a number. "
            "Use it for any calculation instead of computing in your head."
        ),
        deterministic=True,
    )
