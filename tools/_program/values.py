"""The values a ``run_python`` program works with besides Python's own: its scopes, its
functions, control flow, and the safe views of modules and ``str.format``."""

from __future__ import annotations

import ast
import inspect
import string
import types
from collections.abc import Callable
from typing import Any, Protocol

from .check import ProgramError


class Calls(Protocol):
    def call(self, body: list[ast.stmt] | ast.expr, scope: Scope) -> Any: ...


class Return(BaseException):
    def __init__(self, value: Any) -> None:
        self.value = value


class Break(BaseException):
    pass


class Continue(BaseException):
    pass


class Scope:
    """The variables of the program or of one function call; reads fall back to the parent
    (the scope the function was defined in), then to the builtins."""

    __slots__ = ("names", "parent")

    def __init__(self, parent: Scope | None) -> None:
        self.names: dict[str, Any] = {}
        self.parent = parent

    def lookup(self, name: str, fallback: dict[str, Any]) -> Any:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        if name in fallback:
            return fallback[name]
        raise NameError(f"name '{name}' is not defined")


class Function:
    """A function (or lambda) the program defined: callable by the program and by builtins
    such as ``sorted(key=...)`` and ``map``, with no attributes the program can reach."""

    __slots__ = ("_body", "_interpreter", "_name", "_scope", "_signature")

    def __init__(
        self,
        interpreter: Calls,
        node: ast.FunctionDef | ast.Lambda,
        scope: Scope,
        signature: inspect.Signature,
    ) -> None:
        self._interpreter, self._scope, self._signature = interpreter, scope, signature
        self._name = node.name if isinstance(node, ast.FunctionDef) else "<lambda>"
        self._body = node.body

    def __repr__(self) -> str:
        return f"<function {self._name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self._name}(): {exc}") from None
        bound.apply_defaults()
        scope = Scope(self._scope)
        scope.names.update(bound.arguments)
        return self._interpreter.call(self._body, scope)


def public(module: types.ModuleType) -> types.SimpleNamespace:
    names = {
        n: v
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    return types.SimpleNamespace(**names)


def safe_format(template: str) -> Callable[..., str]:
    for _, field, _, _ in string.Formatter().parse(template):
        if field and any(c in field for c in ".["):
            raise ProgramError(f"format field '{{{field}}}' is not supported; pass the value")
    return template.format
