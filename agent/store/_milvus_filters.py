"""Milvus filter expressions over top-level fields, with values quoted safely.

Re-exported by ``agent.store``: ``eq``, ``one_of``, ``has_any``, ``all_of``, ``literal``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from agent.errors import StoreError


def literal(value: str | int | float | bool) -> str:
    """A Milvus expression literal; strings get JSON-style escapes, which Milvus parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise StoreError(f"invalid field name in filter: {name!r}")
    return name


def eq(name: str, value: str | int | float | bool) -> str:
    return f"{_check_name(name)} == {literal(value)}"


def one_of(name: str, values: Iterable[str | int | float]) -> str:
    return f"{_check_name(name)} in [{', '.join(literal(v) for v in values)}]"


def has_any(name: str, values: Iterable[str]) -> str:
    """An array field holds at least one of ``values``."""
    return f"array_contains_any({_check_name(name)}, [{', '.join(literal(v) for v in values)}])"


def all_of(*exprs: str | None) -> str:
    parts = [e for e in exprs if e]
    return " and ".join(f"({p})" for p in parts) if len(parts) > 1 else (parts[0] if parts else "")
