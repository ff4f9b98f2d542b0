"""Tools described by a JSON Schema: OpenAI-style function specs and MCP tools.

``JsonSchemaTool(name=, description=, parameters=, fn=, timeout_s=)`` validates a call as
strictly as a pydantic ``FunctionTool``: required fields, types (``integer`` is not ``number``),
enums, nested objects and arrays, ``anyOf``/``oneOf``, string formats, and no keys the schema
does not declare, even where it leaves ``additionalProperties`` out
(``agent.tooling.strict_schema.validation_schema``). Defaults
from the schema are filled in, and the coercion policy in ``agent.tooling.tool`` applies.

The schema work is done by ``jsonschema`` (python-jsonschema, Draft 2020-12, with the
``format-nongpl`` extra so ``date-time``, ``uri``, ``duration``... are really checked): it is the
reference Python implementation, passes the official JSON-Schema test suite, resolves ``$ref``
through ``referencing``, and reports every error with its instance path and its ``anyOf``
context, which is what the model-facing messages need. A hand-written validator would miss
corners of the spec; pydantic cannot take an arbitrary JSON Schema as input.

``fn`` receives the validated arguments as keyword arguments. An ``async def`` is awaited; a
plain function runs in a worker thread so it cannot block the event loop (a thread cannot be
cancelled: on timeout the runtime stops waiting, the thread finishes on its own).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

from agent.errors import ConfigError
from agent.tooling._coercion import ArgsValidator, coerce_and_validate, new_validator
from agent.tooling._refs import resolve_ref
from agent.tooling._schema_errors import field_errors
from agent.tooling.strict_schema import strict_schema, validation_schema
from agent.tooling.tool import Tool, ToolArgumentsError, ToolOutput

__all__ = ["JsonSchemaTool", "tools_from_openai_specs"]

EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


class JsonSchemaTool(Tool):
    """A tool whose arguments are described by a JSON Schema and run by a Python callable."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        parameters: Mapping[str, Any] | None,
        fn: Callable[..., Any],
        timeout_s: float | None = 30.0,
        untrusted_output: bool = False,
        needs_approval: bool = False,
    ) -> None:
        if not name:
            raise ConfigError("a tool needs a non-empty name")
        if not callable(fn):
            raise ConfigError(f"tool '{name}': fn must be callable, got {fn!r}")
        source = copy.deepcopy(dict(parameters)) if parameters else dict(EMPTY_PARAMETERS)
        try:
            ArgsValidator.check_schema(source)
        except SchemaError as exc:
            path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise ConfigError(
                f"tool '{name}': its parameters are not a valid JSON Schema at {path}: "
                f"{exc.message}"
            ) from None
        if source.get("type", "object") != "object":
            raise ConfigError(
                f"tool '{name}': parameters must describe an object (type: object), "
                f"got type {source.get('type')!r}"
            )
        self.name = name
        self.description = description
        self.timeout_s = timeout_s
        self.untrusted_output = untrusted_output
        self.needs_approval = needs_approval
        self.fn = fn
        try:
            self._closed = validation_schema(source)
            self._llm_schema = strict_schema(source)
        except ConfigError as exc:
            raise ConfigError(f"tool '{name}': {exc}") from None
        self._validator: Validator = new_validator(self._closed)
        self._has_defaults = '"default":' in json.dumps(self._closed)

    def parameters_schema(self) -> dict[str, Any]:
        return self._llm_schema

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        coerced, errors = coerce_and_validate(self._validator, arguments)
        if errors:
            raise ToolArgumentsError(self.name, field_errors(errors))
        if not self._has_defaults:
            return coerced if coerced is not arguments else dict(arguments)
        filled = copy.deepcopy(coerced)
        _apply_defaults(self._validator, self._closed, filled, self._closed)
        return filled

    async def ainvoke(self, validated: dict[str, Any]) -> ToolOutput:
        if _is_async(self.fn):
            result = await self.fn(**validated)
        else:
            result = await asyncio.to_thread(self.fn, **validated)
            if inspect.isawaitable(result):  # e.g. a lambda returning a coroutine
                result = await result
        return result  # type: ignore[no-any-return]


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with ``async def __call__``
    )


def _resolve(schema: Any, root: dict[str, Any]) -> Any:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
        target = resolve_ref(root, schema["$ref"])
        if target is None:
            return schema
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings} if isinstance(target, dict) else target
        seen += 1
    return schema


def _apply_defaults(validator: Validator, schema: Any, value: Any, root: dict[str, Any]) -> None:
    """Fill absent properties that declare a ``default``, in place, through nested values.

    For ``anyOf``/``oneOf`` the first branch the value validates against supplies defaults,
    as pydantic does for the union member it picked.
    """
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in value and isinstance(sub, dict) and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            elif key in value:
                _apply_defaults(validator, sub, value[key], root)
    elif isinstance(value, list):
        prefix = schema.get("prefixItems", [])
        for index, item in enumerate(value):
            if index < len(prefix):
                _apply_defaults(validator, prefix[index], item, root)
            elif isinstance(schema.get("items"), dict):
                _apply_defaults(validator, schema["items"], item, root)
    for sub in schema.get("allOf", []):
        _apply_defaults(validator, sub, value, root)
    if not isinstance(value, dict | list):
        return  # defaults live in objects: a scalar has none to receive
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, []):
            if validator.evolve(schema=branch).is_valid(value):
                _apply_defaults(validator, branch, value, root)
                break


def tools_from_openai_specs(
    specs: Sequence[Mapping[str, Any]],
    function_map: Mapping[str, Callable[..., Any]],
    *,
    timeout_s: float | None = 30.0,
) -> list[Tool]:
    """Tools from OpenAI function specs plus ``{name: callable}``, the seeds' pattern::

        tools = [{"type": "function", "function": {"name": ..., "description": ...,
                                                   "parameters": {...}}}]
        agent = Agent(settings, tools=tools_from_openai_specs(tools, {"name": fn}))

    The flat shape ``{"type": "function", "name": ..., "parameters": ...}`` is accepted too.
    A spec without a callable, or a callable without a spec, is a ``ConfigError``.
    """
    out: list[Tool] = []
    for index, spec in enumerate(specs):
        if spec.get("type", "function") != "function":
            raise ConfigError(
                f"tools[{index}]: only type 'function' tools can be registered, "
                f"got type {spec.get('type')!r}"
            )
        function = spec.get("function", spec)
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(name, str) or not name:
            raise ConfigError(f"tools[{index}]: a function spec needs a 'name'")
        if name not in function_map:
            raise ConfigError(
                f"tool '{name}' has a spec but no callable: add function_map[{name!r}]"
            )
        out.append(
            JsonSchemaTool(
                name=name,
                description=str(function.get("description") or ""),
                parameters=function.get("parameters"),
                fn=function_map[name],
                timeout_s=timeout_s,
            )
        )
    unused = sorted(set(function_map) - {t.name for t in out})
    if unused:
        raise ConfigError(
            f"function_map has callables with no tool spec: {', '.join(unused)}; "
            "add a spec for each or remove them"
        )
    return out
