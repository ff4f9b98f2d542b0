"""Structured output: the run's final answer as a validated value of the caller's type.

The loop runs as usual (the model reasons, calls tools, answers in text); then, unless the
answer already is JSON of the right shape, one more call with tools off asks for the answer as
JSON, with the schema as ``response_format`` so vLLM's guided decoding produces it. What fails
validation goes back to the model with the field errors, at most ``max_repairs`` times.
Keeping this apart from the loop leaves the model its room to reason in every tool-call mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agent.errors import ConfigError
from agent.tooling import (
    FieldError,
    JsonSchemaTool,
    ToolArgumentsError,
    pydantic_field_errors,
)

_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class OutputSpec:
    """How the final answer becomes a value: its JSON Schema and its validator."""

    name: str
    schema: dict[str, Any]
    _to_value: Callable[[Any], Any]  # JSON value -> typed value; raises ToolArgumentsError
    _to_json: Callable[[Any], Any]  # typed value -> JSON value (kept in the thread)

    def response_format(self) -> dict[str, Any]:
        return {
            "type": "json_schema",
            "json_schema": {"name": self.name, "schema": self.schema, "strict": True},
        }

    def parse(self, text: str) -> tuple[Any, list[str]]:
        """``(json value, [])`` when ``text`` holds JSON that validates, else ``(None,
        problems)``. The JSON may be fenced or follow a sentence."""
        problems: list[str] = []
        for candidate in _candidates(text):
            try:
                data = json.loads(candidate)
            except json.JSONDecodeError:
                continue
            try:
                return self._to_json(self._to_value(data)), []
            except ToolArgumentsError as exc:
                problems = [e.render() for e in exc.errors]
        return None, problems or ["- (output): the reply is not JSON"]

    def value(self, data: Any) -> Any:
        """The typed value of JSON that ``parse`` accepted."""
        return self._to_value(data)


def _candidates(text: str) -> list[str]:
    text = text.strip()
    found = [text, *_FENCED.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        found.append(text[start : end + 1])
    return found


def output_spec(output_type: Any) -> OutputSpec:
    """The spec of ``output_type``: a type pydantic can validate (a ``BaseModel``, a
    dataclass, ``list[int]``, ...) or a JSON Schema of an object, as a mapping."""
    if isinstance(output_type, Mapping):
        return _schema_spec(output_type)
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(output_type)
        schema = adapter.json_schema()
    except Exception as exc:  # pydantic raises several kinds for a type it cannot handle
        raise ConfigError(
            f"output_type {output_type!r} is not a type pydantic can validate or describe as "
            f"JSON Schema: {exc}"
        ) from exc
    name = re.sub(r"[^A-Za-z0-9_-]", "_", getattr(output_type, "__name__", "output"))[:64]

    def to_value(data: Any) -> Any:
        try:
            return adapter.validate_python(data)
        except ValidationError as exc:
            raise ToolArgumentsError(name, pydantic_field_errors(exc)) from None

    return OutputSpec(name, schema, to_value, lambda v: adapter.dump_python(v, mode="json"))


def _schema_spec(schema: Mapping[str, Any]) -> OutputSpec:
    try:
        checker = JsonSchemaTool(
            name="output", description="the final output", parameters=schema, fn=lambda **_: None
        )
    except ConfigError as exc:
        reason = str(exc).removeprefix("tool 'output': ")
        raise ConfigError(f"output_type: the JSON Schema is not usable: {reason}") from None

    def to_value(data: Any) -> Any:
        if not isinstance(data, dict):
            raise ToolArgumentsError("output", [FieldError("", "expected a JSON object")])
        return checker.validate(data)

    title = str(schema.get("title") or "output")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", title)[:64]
    return OutputSpec(name, checker.parameters_schema(), to_value, lambda v: v)


def output_prompt(spec: OutputSpec) -> str:
    return (
        "Give your final answer to my question again, now as JSON only (no other text), "
        "matching this JSON Schema:\n" + json.dumps(spec.schema, ensure_ascii=False)
    )


def output_feedback(problems: list[str]) -> str:
    return (
        "That JSON does not match the schema:\n"
        + "\n".join(problems)
        + "\nReply with the corrected JSON only."
    )
