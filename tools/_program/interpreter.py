"""The interpreter of ``run_python`` programs: a program is never handed to ``exec``,
``eval`` or ``compile``; it is parsed and checked (``check``), and this module walks the syntax
tree, one allowed construct at a time. Standard library only: the child process imports it
without site-packages.

While a program runs, names resolve to its own variables, ``SAFE_BUILTINS`` (no ``open``,
``eval``, ``getattr``, ``type``...) and the allowed modules, each handed over as a namespace of
its public functions, classes and constants (``statistics.sys`` does not exist); the program's
own functions have no attributes; ``str.format`` may not reach into attributes (``"{0.real}"``).

The interpreter runs in a child process under resource limits (``child``), which bound CPU and
memory; this module bounds printed output and call depth. It guards against a model's mistakes
and the known escapes; it is not a boundary against a determined attacker, which is why the tool
is opt-in.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import operator
from collections.abc import Callable, Iterator
from typing import Any, Final

from .check import (
    _BLOCKED_ATTRIBUTES,
    MAX_CALL_DEPTH,
    MAX_OUTPUT,
    SAFE_BUILTINS,
    ProgramError,
    check,
)
from .values import Break, Continue, Function, Return, Scope, public, safe_format

__all__ = ["ProgramError", "run"]

_BINARY: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.BitAnd: operator.and_,
    ast.MatMult: operator.matmul,
}  # fmt: skip
_UNARY: Final[dict[type[ast.unaryop], Callable[[Any], Any]]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
    ast.Invert: operator.invert,
}  # fmt: skip
_COMPARE: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip
# Never caught by a program's try/except: they end the run.
_UNCATCHABLE: Final = (ProgramError, RecursionError, MemoryError)


def run(code: str) -> str:
    """Check and interpret ``code``; what it printed, or ``ProgramError`` saying why not."""
    return _Interpreter().run(check(code))


class _Interpreter:
    def __init__(self) -> None:
        self.output: list[str] = []
        self.size = 0
        self.depth = 0
        self.line = 0
        self.builtins: dict[str, Any] = {n: getattr(builtins, n) for n in SAFE_BUILTINS}
        self.builtins["print"] = self.print
        self.handling: list[BaseException] = []

    def run(self, tree: ast.Module) -> str:
        scope = Scope(None)
        scope.names["__name__"] = "__main__"
        try:
            self.block(tree.body, scope)
        except ProgramError as exc:
            raise ProgramError(f"line {self.line}: {exc}") from None
        except RecursionError:
            raise ProgramError("RecursionError: the program recursed too deeply") from None
        except MemoryError:
            raise ProgramError("MemoryError: the program used too much memory") from None
        except (Return, Break, Continue) as exc:
            word = {Return: "return", Break: "break", Continue: "continue"}[type(exc)]
            raise ProgramError(f"line {self.line}: '{word}' outside a function or loop") from None
        except Exception as exc:
            raise ProgramError(f"line {self.line}: {type(exc).__name__}: {exc}") from None
        return "".join(self.output)

    def print(self, *values: object, sep: str | None = " ", end: str | None = "\n") -> None:
        text = (" " if sep is None else sep).join(str(v) for v in values)
        text += "\n" if end is None else end
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise ProgramError(f"the program printed more than {MAX_OUTPUT} characters")
        self.output.append(text)

    def call(self, body: list[ast.stmt] | ast.expr, scope: Scope) -> Any:
        if self.depth >= MAX_CALL_DEPTH:
            raise RecursionError
        self.depth += 1
        try:
            if isinstance(body, ast.expr):
                return self.evaluate(body, scope)
            self.block(body, scope)
        except Return as returned:
            return returned.value
        finally:
            self.depth -= 1
        return None

    # statements

    def block(self, body: list[ast.stmt], scope: Scope) -> None:
        for statement in body:
            self.line = statement.lineno
            self.statement(statement, scope)

    def statement(self, node: ast.stmt, scope: Scope) -> None:  # noqa: C901, PLR0912 - one branch per statement
        if isinstance(node, ast.Expr):
            self.evaluate(node.value, scope)
        elif isinstance(node, ast.Assign):
            value = self.evaluate(node.value, scope)
            for target in node.targets:
                self.assign(target, value, scope)
        elif isinstance(node, ast.AugAssign):
            self.augmented(node, scope)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.assign(node.target, self.evaluate(node.value, scope), scope)
        elif isinstance(node, ast.If):
            self.block(node.body if self.evaluate(node.test, scope) else node.orelse, scope)
        elif isinstance(node, ast.For | ast.While):
            self.loop(node, scope)
        elif isinstance(node, ast.FunctionDef):
            scope.names[node.name] = self.function(node, scope)
        elif isinstance(node, ast.Return):
            raise Return(None if node.value is None else self.evaluate(node.value, scope))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            self.import_(node, scope)
        elif isinstance(node, ast.Try):
            self.try_(node, scope)
        elif isinstance(node, ast.Raise):
            self.raise_(node, scope)
        elif isinstance(node, ast.Assert):
            if not self.evaluate(node.test, scope):
                message = () if node.msg is None else (self.evaluate(node.msg, scope),)
                raise AssertionError(*message)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.delete(target, scope)
        elif isinstance(node, ast.Break):
            raise Break
        elif isinstance(node, ast.Continue):
            raise Continue
        elif not isinstance(node, ast.Pass):
            raise ProgramError(f"'{type(node).__name__}' statements are not supported")

    def loop(self, node: ast.For | ast.While, scope: Scope) -> None:
        for _ in self.rounds(node, scope):
            try:
                self.block(node.body, scope)
            except Break:
                return
            except Continue:
                pass
        self.block(node.orelse, scope)

    def rounds(self, node: ast.For | ast.While, scope: Scope) -> Iterator[None]:
        """One step per round of the loop, with a for loop's target assigned."""
        if isinstance(node, ast.For):
            for item in self.evaluate(node.iter, scope):
                self.assign(node.target, item, scope)
                yield
        else:
            while self.evaluate(node.test, scope):
                yield

    def try_(self, node: ast.Try, scope: Scope) -> None:
        try:
            try:
                self.block(node.body, scope)
            except Exception as exc:
                if isinstance(exc, _UNCATCHABLE):
                    raise
                handler = self.handler(node.handlers, exc, scope)
                if handler is None:
                    raise
                if handler.name:
                    scope.names[handler.name] = exc
                self.handling.append(exc)
                try:
                    self.block(handler.body, scope)
                finally:
                    self.handling.pop()
            else:
                self.block(node.orelse, scope)
        finally:
            self.block(node.finalbody, scope)

    def handler(
        self, handlers: list[ast.ExceptHandler], exc: Exception, scope: Scope
    ) -> ast.ExceptHandler | None:
        for handler in handlers:
            if handler.type is None or isinstance(exc, self.evaluate(handler.type, scope)):
                return handler
        return None

    def raise_(self, node: ast.Raise, scope: Scope) -> None:
        if node.exc is None:
            if not self.handling:
                raise ProgramError("'raise' with nothing to re-raise")
            raise self.handling[-1]
        exc = self.evaluate(node.exc, scope)
        if isinstance(exc, type) and issubclass(exc, Exception):
            exc = exc()
        if not isinstance(exc, Exception) or isinstance(exc, ProgramError):
            raise ProgramError("only exceptions can be raised")
        raise exc

    def import_(self, node: ast.Import | ast.ImportFrom, scope: Scope) -> None:
        for alias in node.names:
            if isinstance(node, ast.Import):
                module = public(__import__(alias.name))
                scope.names[alias.asname or alias.name] = module
                continue
            module = public(__import__(str(node.module)))
            if not hasattr(module, alias.name):
                raise ImportError(f"cannot import name '{alias.name}' from '{node.module}'")
            scope.names[alias.asname or alias.name] = getattr(module, alias.name)

    def function(self, node: ast.FunctionDef | ast.Lambda, scope: Scope) -> Function:
        spec = node.args
        positional = [*spec.posonlyargs, *spec.args]
        defaults = [self.evaluate(d, scope) for d in spec.defaults]
        first_default = len(positional) - len(defaults)
        kinds = inspect.Parameter
        parameters = [
            kinds(
                a.arg,
                kinds.POSITIONAL_ONLY if i < len(spec.posonlyargs) else kinds.POSITIONAL_OR_KEYWORD,
                default=defaults[i - first_default] if i >= first_default else kinds.empty,
            )
            for i, a in enumerate(positional)
        ]
        if spec.vararg:
            parameters.append(kinds(spec.vararg.arg, kinds.VAR_POSITIONAL))
        for a, d in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
            default = kinds.empty if d is None else self.evaluate(d, scope)
            parameters.append(kinds(a.arg, kinds.KEYWORD_ONLY, default=default))
        if spec.kwarg:
            parameters.append(kinds(spec.kwarg.arg, kinds.VAR_KEYWORD))
        return Function(self, node, scope, inspect.Signature(parameters))

    def assign(self, target: ast.expr, value: Any, scope: Scope) -> None:
        if isinstance(target, ast.Name):
            scope.names[target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            self.unpack(target.elts, value, scope)
        elif isinstance(target, ast.Subscript):
            container = self.evaluate(target.value, scope)
            container[self.evaluate(target.slice, scope)] = value
        else:
            raise ProgramError(f"cannot assign to {type(target).__name__.lower()}")

    def unpack(self, targets: list[ast.expr], value: Any, scope: Scope) -> None:
        items = list(value)
        starred = [i for i, t in enumerate(targets) if isinstance(t, ast.Starred)]
        if not starred:
            if len(items) != len(targets):
                raise ValueError(f"expected {len(targets)} values to unpack, got {len(items)}")
            for target, item in zip(targets, items, strict=True):
                self.assign(target, item, scope)
            return
        star, after = starred[0], len(targets) - starred[0] - 1
        if len(items) < star + after:
            raise ValueError(f"expected at least {star + after} values to unpack")
        for target, item in zip(targets[:star], items[:star], strict=True):
            self.assign(target, item, scope)
        self.assign(targets[star].value, items[star : len(items) - after], scope)  # type: ignore[attr-defined]
        for target, item in zip(targets[star + 1 :], items[len(items) - after :], strict=True):
            self.assign(target, item, scope)

    def augmented(self, node: ast.AugAssign, scope: Scope) -> None:
        apply = _BINARY[type(node.op)]
        value = self.evaluate(node.value, scope)
        target = node.target
        if isinstance(target, ast.Name):
            scope.names[target.id] = apply(scope.lookup(target.id, self.builtins), value)
        elif isinstance(target, ast.Subscript):
            container = self.evaluate(target.value, scope)
            key = self.evaluate(target.slice, scope)
            container[key] = apply(container[key], value)
        else:
            raise ProgramError(f"cannot assign to {type(target).__name__.lower()}")

    def delete(self, target: ast.expr, scope: Scope) -> None:
        if isinstance(target, ast.Name):
            if target.id not in scope.names:
                raise NameError(f"name '{target.id}' is not defined")
            del scope.names[target.id]
        elif isinstance(target, ast.Subscript):
            del self.evaluate(target.value, scope)[self.evaluate(target.slice, scope)]
        else:
            raise ProgramError(f"cannot delete {type(target).__name__.lower()}")

    # expressions

    def evaluate(self, node: ast.expr, scope: Scope) -> Any:  # noqa: C901, PLR0911, PLR0912 - one branch per expression
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return scope.lookup(node.id, self.builtins)
        if isinstance(node, ast.BinOp):
            left, right = self.evaluate(node.left, scope), self.evaluate(node.right, scope)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self.evaluate(node.operand, scope))
        if isinstance(node, ast.BoolOp):
            return self.boolean(node, scope)
        if isinstance(node, ast.Compare):
            return self.compare(node, scope)
        if isinstance(node, ast.IfExp):
            branch = node.body if self.evaluate(node.test, scope) else node.orelse
            return self.evaluate(branch, scope)
        if isinstance(node, ast.Call):
            return self.call_expression(node, scope)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.evaluate(node.value, scope), node.attr)
        if isinstance(node, ast.Subscript):
            return self.evaluate(node.value, scope)[self.evaluate(node.slice, scope)]
        if isinstance(node, ast.Slice):
            parts = (node.lower, node.upper, node.step)
            return slice(*(None if p is None else self.evaluate(p, scope) for p in parts))
        if isinstance(node, ast.List):
            return self.items(node.elts, scope)
        if isinstance(node, ast.Tuple):
            return tuple(self.items(node.elts, scope))
        if isinstance(node, ast.Set):
            return set(self.items(node.elts, scope))
        if isinstance(node, ast.Dict):
            return self.dictionary(node, scope)
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return self.comprehension(node, scope)
        if isinstance(node, ast.JoinedStr):
            return "".join(str(self.evaluate(part, scope)) for part in node.values)
        if isinstance(node, ast.FormattedValue):
            return self.formatted(node, scope)
        if isinstance(node, ast.NamedExpr):
            value = self.evaluate(node.value, scope)
            scope.names[node.target.id] = value
            return value
        if isinstance(node, ast.Lambda):
            return self.function(node, scope)
        raise ProgramError(f"'{type(node).__name__}' expressions are not supported")

    def boolean(self, node: ast.BoolOp, scope: Scope) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.evaluate(operand, scope)
            if bool(value) == isinstance(node.op, ast.Or):
                return value
        return value

    def compare(self, node: ast.Compare, scope: Scope) -> bool:
        left = self.evaluate(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.evaluate(comparator, scope)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def call_expression(self, node: ast.Call, scope: Scope) -> Any:
        function = self.evaluate(node.func, scope)
        args = self.items(node.args, scope)
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            value = self.evaluate(keyword.value, scope)
            if keyword.arg is None:
                kwargs.update(value)
            else:
                kwargs[keyword.arg] = value
        if not callable(function):
            raise TypeError(f"'{type(function).__name__}' object is not callable")
        return function(*args, **kwargs)

    def attribute(self, value: Any, name: str) -> Any:
        if isinstance(value, Function) or name.startswith("_") or name in _BLOCKED_ATTRIBUTES:
            raise AttributeError(f"'{name}' is not available")
        if isinstance(value, str) and name == "format":
            return safe_format(value)
        return getattr(value, name)

    def items(self, nodes: list[ast.expr], scope: Scope) -> list[Any]:
        values: list[Any] = []
        for node in nodes:
            if isinstance(node, ast.Starred):
                values.extend(self.evaluate(node.value, scope))
            else:
                values.append(self.evaluate(node, scope))
        return values

    def dictionary(self, node: ast.Dict, scope: Scope) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                result.update(self.evaluate(value, scope))
            else:
                result[self.evaluate(key, scope)] = self.evaluate(value, scope)
        return result

    def comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, scope: Scope
    ) -> Any:
        inner = Scope(scope)
        if isinstance(node, ast.DictComp):
            pairs = self.generate(node.generators, inner, (node.key, node.value))
            return dict(pairs)
        values = [v[0] for v in self.generate(node.generators, inner, (node.elt,))]
        if isinstance(node, ast.SetComp):
            return set(values)
        return iter(values) if isinstance(node, ast.GeneratorExp) else values

    def generate(
        self, clauses: list[ast.comprehension], scope: Scope, produce: tuple[ast.expr, ...]
    ) -> Iterator[tuple[Any, ...]]:
        if not clauses:
            yield tuple(self.evaluate(e, scope) for e in produce)
            return
        first, rest = clauses[0], clauses[1:]
        for item in self.evaluate(first.iter, scope):
            self.assign(first.target, item, scope)
            if all(self.evaluate(condition, scope) for condition in first.ifs):
                yield from self.generate(rest, scope, produce)

    def formatted(self, node: ast.FormattedValue, scope: Scope) -> str:
        value = self.evaluate(node.value, scope)
        convert = {-1: None, ord("s"): str, ord("r"): repr, ord("a"): ascii}[node.conversion]
        if convert is not None:
            value = convert(value)
        spec = "" if node.format_spec is None else str(self.evaluate(node.format_spec, scope))
        return format(value, spec)
