"""Schemas shared by the schema-tool and strict-schema tests."""

from __future__ import annotations

import copy
from typing import Any

_UNION_WITH_SHARED_PROPERTY: dict[str, Any] = {
    "type": "object",
    "properties": {"kind": {"enum": ["a", "b"]}},
    "required": ["kind"],
    "oneOf": [
        {"properties": {"kind": {"const": "a"}, "x": {"type": "integer"}}},
        {"properties": {"kind": {"const": "b"}, "y": {"type": "string"}}},
    ],
}


def union_with_shared_property() -> dict[str, Any]:
    """An object whose own property sits beside a oneOf that declares the other keys (a copy,
    so a test that mutates it cannot affect another)."""
    return copy.deepcopy(_UNION_WITH_SHARED_PROPERTY)
