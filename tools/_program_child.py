"""The checker and runner of ``run_python`` programs, in one file that needs only the standard
library: the tool imports ``check`` to refuse a program with a message the model can act on, and
runs this file as a child process (``python -I -S``) that checks the program again and runs it.

What a program may do is an allow-list, enforced twice:

* on the syntax tree (``check``): no dunder names and no attributes that start with ``_`` (the
  way out of every restricted-``exec`` sandbox goes through dunders), none of the frame and
  code attributes of generators, coroutines and tracebacks (``gi_frame``, ``f_back``,
  ``f_globals``...), no ``global``/``nonlocal``, ``import`` only of the modules in ``MODULES``;
* at run time: the builtins are ``SAFE_BUILTINS`` (no ``open``, ``eval``, ``exec``,
  ``getattr``, ``__import__``...), and an allowed module is handed over as a namespace of its
  public functions, classes and constants only, so ``statistics.sys`` does not exist.

The child also runs under resource limits set before the program starts (CPU seconds, address
space, no files written), prints through a bounded buffer, and reports one JSON object on
stdout: ``{"output": ...}`` or ``{"error": ...}``. This guards against a model's mistakes and the
obvious escapes; it is not a boundary against a determined attacker with arbitrary code, which
is why the tool can be left out (``AGENT_TOOLS``).
"""

from __future__ import annotations

import ast
import builtins
import json
import resource
import sys
import types
from typing import Any

MODULES = ("math", "fractions", "decimal", "statistics", "datetime", "itertools")
"""The modules a program may import; every one is pure computation."""

_BLOCKED_ATTRIBUTES = frozenset(
    {
        "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame",
        "ag_code", "ag_await", "f_back", "f_globals", "f_locals", "f_builtins", "f_code",
        "tb_frame", "tb_next", "co_code", "mro", "format_map",
    }
)  # fmt: skip
_BLOCKED_NAMES = frozenset(
    {"eval", "exec", "compile", "open", "input", "globals", "locals", "vars", "getattr",
     "setattr", "delattr", "breakpoint", "help", "exit", "quit", "memoryview", "type", "object",
     "super", "classmethod", "staticmethod", "property"}
)  # fmt: skip

MAX_OUTPUT = 4000
"""Characters of printed output kept; a program printing more is stopped."""


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
    if isinstance(node, ast.Name) and (node.id.startswith("__") or node.id in _BLOCKED_NAMES):
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
    if isinstance(node, ast.Global | ast.Nonlocal):
        return "global and nonlocal are not supported"
    if isinstance(node, ast.AsyncFunctionDef | ast.Await | ast.AsyncFor | ast.AsyncWith):
        return "async code is not supported"
    return None


class _Printed:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def print(self, *values: object, sep: str | None = " ", end: str | None = "\n") -> None:
        text = (" " if sep is None else sep).join(str(v) for v in values)
        text += "\n" if end is None else end
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise ProgramError(f"the program printed more than {MAX_OUTPUT} characters")
        self.parts.append(text)


def _public(module: types.ModuleType) -> types.SimpleNamespace:
    names = {
        n: v
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    return types.SimpleNamespace(**names)


def _importer(
    name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (), level: int = 0
) -> Any:
    if level or name not in MODULES:
        raise ImportError(f"'import {name}' is not allowed")
    return _public(__import__(name))


SAFE_BUILTINS = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "int",
    "isinstance", "len", "list", "map", "max", "min", "pow", "range", "reversed", "round",
    "set", "sorted", "str", "sum", "tuple", "zip", "frozenset", "chr", "ord", "hex", "bin",
    "format", "repr", "iter", "next", "slice", "complex", "hash", "callable",
    "Exception", "ValueError", "ZeroDivisionError", "ArithmeticError", "TypeError",
    "IndexError", "KeyError", "StopIteration",
)  # fmt: skip


def run(code: str) -> str:
    """Check and run ``code`` in this process; its printed output."""
    tree = check(code)
    printed = _Printed()
    allowed: dict[str, Any] = {n: getattr(builtins, n) for n in SAFE_BUILTINS}
    allowed["print"] = printed.print
    allowed["__import__"] = _importer
    allowed["__build_class__"] = builtins.__build_class__  # what a class statement calls
    scope: dict[str, Any] = {"__builtins__": allowed, "__name__": "__main__"}
    try:
        exec(compile(tree, "<program>", "exec"), scope)  # noqa: S102 - checked above, see the module docstring
    except ProgramError:
        raise
    except RecursionError:
        raise ProgramError("RecursionError: the program recursed too deeply") from None
    except MemoryError:
        raise ProgramError("MemoryError: the program used too much memory") from None
    except Exception as exc:
        raise ProgramError(f"{_where(exc)}{type(exc).__name__}: {exc}") from None
    return "".join(printed.parts)


def _where(exc: BaseException) -> str:
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<program>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"line {line}: " if line else ""


def _limit(cpu_seconds: int, memory_bytes: int) -> None:
    # soft < hard: the kernel sends SIGXCPU at the soft limit, which the parent can name
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def main() -> None:
    cpu_seconds, memory_bytes = int(sys.argv[1]), int(sys.argv[2])
    code = sys.stdin.read()
    sys.setrecursionlimit(200)
    _limit(cpu_seconds, memory_bytes)
    try:
        result: dict[str, str] = {"output": run(code)}
    except ProgramError as exc:
        result = {"error": str(exc)}
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
