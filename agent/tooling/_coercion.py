"""The one coercion policy, applied the same way to pydantic tools and JSON-Schema tools.

A number or integer field accepts a string that spells a JSON number (``"3"``, ``"-2.5e3"``,
surrounding whitespace ignored), and an integer field accepts a number with no fractional part
(``3.0`` -> ``3``, ``"3.0"`` -> ``3``): JSON Schema itself counts ``3.0`` as an integer, and
converting it means the tool's code always receives a Python ``int``. Nothing else is coerced:
not ``"true"`` to a boolean, not ``true`` to a number, not ``NaN``/``Infinity``/``"1_000"``.

The coercion is driven by the validator's own type errors rather than by walking the schema,
so ``anyOf``/``oneOf``/``$ref`` are honoured exactly as the validator sees them: a string is
only turned into a number where the schema rejects the string and would take a number (in
``anyOf: [integer, string]`` the string ``"3"`` stays a string).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NO_CHANGE = object()
_MAX_ROUNDS = 4  # each round fixes every coercible error in view; nesting can reveal more


def _is_strict_integer(_checker: Any, instance: object) -> bool:
    # JSON Schema counts 3.0 as an integer; we report it so it gets converted to 3 (see above).
    return isinstance(instance, int) and not isinstance(instance, bool)


ArgsValidator: type[Validator] = extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)
"""Draft 2020-12 with format checking and ``integer`` meaning a JSON number with no fraction
that is *written* as an integer (``3.0`` fails it, then the coercion turns it into ``3``)."""


def new_validator(schema: dict[str, Any]) -> Validator:
    """A validator for ``schema`` with string formats checked (``date-time``, ``email``, ...)."""
    return ArgsValidator(schema, format_checker=ArgsValidator.FORMAT_CHECKER)


def parse_number_string(text: str) -> int | float | None:
    """``"3"`` -> 3, ``" 2.5 "`` -> 2.5; ``None`` unless ``text`` spells a finite JSON number."""
    stripped = text.strip()
    if not _JSON_NUMBER.fullmatch(stripped):
        return None
    value: int | float = json.loads(stripped)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # "1e400"
    return value


def _coerced(value: object, expected: Iterable[str]) -> object:
    kinds = set(expected)
    if isinstance(value, bool):
        return _NO_CHANGE
    number: int | float | None
    if isinstance(value, str):
        number = parse_number_string(value)
    elif isinstance(value, float) and math.isfinite(value):
        number = value
    else:
        return _NO_CHANGE
    if number is None:
        return _NO_CHANGE
    if "integer" in kinds and (isinstance(number, int) or number.is_integer()):
        return int(number)
    if "number" in kinds and isinstance(value, str):
        return number
    return _NO_CHANGE


def _collect(error: ValidationError, out: list[tuple[tuple[str | int, ...], object]]) -> None:
    if error.validator == "type":
        expected: Any = error.validator_value
        kinds = [expected] if isinstance(expected, str) else list(expected)
        new = _coerced(error.instance, kinds)
        path = tuple(error.absolute_path)
        if new is not _NO_CHANGE and path:
            out.append((path, new))
    for sub in error.context or ():
        _collect(sub, out)


def _set(root: Any, path: tuple[str | int, ...], value: object) -> bool:
    node = root
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    try:
        node[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        return False
    return True


def coerce_numbers(validator: Validator, arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` with numeric strings (and integral floats) converted where the schema
    wants a number; the input is never mutated, and returned unchanged if nothing applies."""
    return coerce_and_validate(validator, arguments)[0]


def coerce_and_validate(
    validator: Validator, arguments: dict[str, Any]
) -> tuple[dict[str, Any], list[ValidationError]]:
    """``coerce_numbers``, plus the validation errors that remain after it (one pass when
    there is nothing to coerce, which is the common case)."""
    current = arguments
    for _ in range(_MAX_ROUNDS):
        errors = list(validator.iter_errors(current))
        patches: list[tuple[tuple[str | int, ...], object]] = []
        for error in errors:
            _collect(error, patches)
        if not patches:
            return current, errors
        if current is arguments:
            current = copy.deepcopy(arguments)
        if not any(_set(current, path, value) for path, value in patches):
            return current, errors
    return current, list(validator.iter_errors(current))
