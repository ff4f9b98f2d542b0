"""What a ``run_python`` program may contain, checked on its syntax tree before it runs.

An allow-list: only the statements and expressions ``interpreter`` knows (no classes, ``with``,
generators, ``global``/``nonlocal``, async code, decorators), no dunder names (``__name__``
apart), no attributes that start with ``_`` (the way out of every restricted-Python sandbox goes
through dunders), none of the frame and code attributes (``gi_frame``, ``f_back``...),
``import`` only of the modules in ``MODULES``. Standard library only: the child process
imports it without site-packages.
"""

from __future__ import annotations

import ast
from typing import Final

MODULES: Final = ("math", "fractions", "decimal", "statistics", "datetime", "itertools")
"""The modules a program may import; every one is pure computation."""

MAX_OUTPUT: Final = 4000
"""Characters of printed output kept; a program printing more is stopped."""
MAX_CALL_DEPTH: Final = 100

SAFE_BUILTINS: Final = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "int",
    "isinstance", "len", "list", "map", "max", "min", "pow", "range", "reversed", "round",
    "set", "sorted", "str", "sum", "tuple", "zip", "frozenset", "chr", "ord", "hex", "bin",
    "format", "repr", "iter", "next", "slice", "complex", "hash", "callable",
    "Exception", "ValueError", "ZeroDivisionError", "ArithmeticError", "TypeError",
    "IndexError", "KeyError", "StopIteration", "AssertionError", "NameError",
)  # fmt: skip

_BLOCKED_ATTRIBUTES: Final = frozenset(
    {
        "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame",
        "ag_code", "ag_await", "f_back", "f_globals", "f_locals", "f_builtins", "f_code",
        "tb_frame", "tb_next", "co_code", "mro", "format_map",
    }
)  # fmt: skip
_BLOCKED_NAMES: Final = frozenset(
    {"eval", "exec", "compile", "open", "input", "globals", "locals", "vars", "getattr",
     "setattr", "delattr", "breakpoint", "help", "exit", "quit", "memoryview", "type", "object",
     "super", "classmethod", "staticmethod", "property"}
)  # fmt: skip
_UNSUPPORTED: Final[dict[type[ast.AST], str]] = {
    ast.ClassDef: "classes are not supported; use functions, dicts and lists",
    ast.With: "'with' is not supported",
    ast.Yield: "generators (yield) are not supported; build a list",
    ast.YieldFrom: "generators (yield) are not supported; build a list",
    ast.Global: "global and nonlocal are not supported",
    ast.Nonlocal: "global and nonlocal are not supported",
    ast.AsyncFunctionDef: "async code is not supported",
    ast.Await: "async code is not supported",
    ast.AsyncFor: "async code is not supported",
    ast.AsyncWith: "async code is not supported",
    ast.Match: "'match' is not supported; use if/elif",
    ast.TryStar: "'except*' is not supported",
}


class ProgramError(Exception):
    """A program that may not run, or that failed; the message is for the model."""


def check(code: str) -> ast.Module:
    """The program's syntax tree, or ``ProgramError`` naming the first thing not allowed."""
    try:
        tree = ast.parse(code, mode="exec")
    except SyntaxError as exc:
        raise ProgramError(f"line {exc.lineno}: SyntaxError: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ProgramError(f"the program cannot be parsed ({type(exc).__name__})") from None
    for node in ast.walk(tree):
        problem = _refusal(node)
        if problem:
            raise ProgramError(f"line {getattr(node, 'lineno', '?')}: {problem}")
    return tree


def _refusal(node: ast.AST) -> str | None:
    if type(node) in _UNSUPPORTED:
        return _UNSUPPORTED[type(node)]
    if isinstance(node, ast.Name) and (
        (node.id.startswith("__") and node.id != "__name__") or node.id in _BLOCKED_NAMES
    ):
        return f"the name '{node.id}' is not available"
    if isinstance(node, ast.Attribute) and (
        node.attr.startswith("_") or node.attr in _BLOCKED_ATTRIBUTES
    ):
        return f"the attribute '.{node.attr}' is not available"
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        for name in names:
            if name not in MODULES:
                available = ", ".join(MODULES)
                return f"'import {name}' is not allowed; the modules available are {available}"
        if any(a.name == "*" or a.name.startswith("_") for a in node.names):
            return "import the names you need explicitly"
    if isinstance(node, ast.FunctionDef) and node.decorator_list:
        return "decorators are not supported"
    return None
