"""jsonschema's validation errors as ``FieldError`` s a model can act on.

Each error names the offending field by path (``filters[2].op``), what was expected and what was
given, in the same words as the pydantic path (``agent.tooling.tool.pydantic_field_errors``) where
the two overlap. For ``anyOf``/``oneOf`` the branch that matched best is reported: a branch whose
type fits the value (so its errors are about the value's insides) beats one that rejects the value
outright, and fewer errors beat more. jsonschema's own ``best_match`` is not used: it prefers the
shallowest error, which for ``anyOf: [object, null]`` is "not of type 'null'".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema import ValidationError

from agent.text import clip
from agent.tooling.tool import FieldError, format_path

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_MAX_LISTED = 20


def given(value: object, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return clip(text, limit + 1)


def _listing(values: Sequence[object]) -> str:
    shown = ", ".join(given(v, 60) for v in values[:_MAX_LISTED])
    more = len(values) - _MAX_LISTED
    return shown + (f", … ({more} more)" if more > 0 else "")


def _type_words(expected: Any) -> str:
    kinds = [expected] if isinstance(expected, str) else list(expected or [])
    return " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kinds) or "a value"


def describe(schema: object) -> str:
    """A short phrase for what ``schema`` accepts: used when no ``anyOf`` branch fits."""
    if schema is True:
        return "any value"
    if not isinstance(schema, dict):
        return "nothing"
    if "const" in schema:
        return given(schema["const"], 60)
    if isinstance(schema.get("enum"), list):
        return "one of " + _listing(schema["enum"])
    if "type" in schema:
        words = _type_words(schema["type"])
        if "format" in schema:
            words += f" in {schema['format']} format"
        return words
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " or ".join(describe(s) for s in schema[key])
    return "a value matching the schema"


def field_errors(errors: Iterable[ValidationError]) -> list[FieldError]:
    """Flatten validation errors into field errors, deduplicated, in the validator's order."""
    rendered = [
        (item, error.validator in ("anyOf", "oneOf")) for error in errors for item in _render(error)
    ]
    # A field already faulted directly (e.g. outside the enum) is not faulted again by the
    # union branch it happened to pick (e.g. "expected exactly 'a'"): one fix, one message.
    direct = {item.path for item, from_branch in rendered if not from_branch}
    out: list[FieldError] = []
    for item, from_branch in rendered:
        if item not in out and not (from_branch and item.path in direct):
            out.append(item)
    return out


def _path(error: ValidationError, *extra: str | int) -> str:
    return format_path([*error.absolute_path, *extra])


def _render(error: ValidationError) -> list[FieldError]:
    kind = error.validator
    value: Any = error.validator_value
    instance = error.instance
    path = _path(error)
    if kind == "required":
        names = [n for n in value if isinstance(instance, dict) and n not in instance]
        return [FieldError(_path(error, n), "required field is missing") for n in names]
    if kind in ("additionalProperties", "unevaluatedProperties"):
        return _unexpected(error)
    if kind in ("anyOf", "oneOf"):
        return _branch_errors(error)
    if kind == "items" and value is False:
        return _extra_items(error)
    if kind == "type":
        message = f"expected {_type_words(value)}"
    elif kind == "enum":
        message = f"expected one of {_listing(value)}"
    elif kind == "const":
        message = f"expected exactly {given(value, 60)}"
    elif kind == "format":
        message = f"expected a string in {value} format"
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[
            str(kind)
        ]
        message = f"expected a number {sign} {value}"
    elif kind in ("minLength", "maxLength"):
        message = f"expected {'at least' if kind == 'minLength' else 'at most'} {value} characters"
    elif kind in ("minItems", "maxItems"):
        message = f"expected {'at least' if kind == 'minItems' else 'at most'} {value} items"
    elif kind == "pattern":
        message = f"expected a string matching the pattern {value}"
    elif kind is None and error.schema is False:
        message = "unexpected value: nothing is allowed here"
    else:
        message = clip(error.message, 301)
        return [FieldError(path, message)]
    return [FieldError(path, f"{message} (given: {given(instance)})")]


def _unexpected(error: ValidationError) -> list[FieldError]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    schema = error.schema if isinstance(error.schema, dict) else {}
    declared = schema.get("properties", {})
    names_here = _declared(schema)
    allowed = ", ".join(names_here) if names_here else "none"
    if schema.get("patternProperties"):
        allowed += "; or names matching " + ", ".join(schema["patternProperties"])
    if error.validator == "additionalProperties":
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        names = [
            k for k in instance if k not in declared and not any(p.search(k) for p in patterns)
        ]
    else:  # unevaluatedProperties: only the message says which ones
        tail = error.message.split("(", 1)[-1]
        names = [m.group(1) for m in _QUOTED.finditer(tail) if m.group(1) in instance]
    if not names:
        return [FieldError(_path(error), error.message)]
    out = []
    for name in names:
        if error.validator == "unevaluatedProperties" and name in names_here:
            # declared, but in an alternative other than the one the other fields matched
            message = (
                "unexpected field: not taken together with the fields given "
                f"(fields declared here: {allowed})"
            )
        else:
            message = (
                f"unexpected field: this tool does not take it (fields allowed here: {allowed})"
            )
        out.append(FieldError(_path(error, name), message))
    return out


def _declared(schema: dict[str, Any]) -> list[str]:
    names = list(schema.get("properties", {}))
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, []):
            if isinstance(branch, dict):
                names += [n for n in _declared(branch) if n not in names]
    return names


def _extra_items(error: ValidationError) -> list[FieldError]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    count = len(schema.get("prefixItems", []))
    items = error.instance if isinstance(error.instance, list) else []
    return [
        FieldError(
            _path(error, index),
            f"unexpected item: this list takes at most {count} items (given: {given(item)})",
        )
        for index, item in enumerate(items[count:], start=count)
    ]


def _branch_errors(error: ValidationError) -> list[FieldError]:
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        index = sub.relative_schema_path[0] if sub.relative_schema_path else 0
        by_branch.setdefault(int(index), []).append(sub)
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    if not by_branch:  # oneOf matched several branches
        return [FieldError(_path(error), f"{error.message[:300]}: make it match exactly one")]

    def fits(errors: list[ValidationError]) -> bool:
        # The branch took the value's type: its complaints are about the value's insides.
        return not any(
            not e.relative_path
            and e.validator in ("type", "enum", "const", "format")
            or e.validator is None
            for e in errors
        )

    fitting = {i: errs for i, errs in by_branch.items() if fits(errs)}
    if fitting:
        best = min(fitting, key=lambda i: (len(fitting[i]), i))
        return field_errors(fitting[best])
    options = " or ".join(describe(b) for b in branches)
    return [FieldError(_path(error), f"expected {options} (given: {given(error.instance)})")]
