"""Local JSON-Schema references (``#/$defs/Name``): the one parser and resolver of ``$ref``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MISSING = object()


def ref_parts(ref: str) -> list[str] | None:
    """``"#/$defs/A~1B"`` -> ``["$defs", "A/B"]`` (JSON-pointer unescaped); ``None`` if the
    reference is not local to the document."""
    if not ref.startswith("#"):
        return None
    return [p.replace("~1", "/").replace("~0", "~") for p in ref[1:].split("/") if p]


def definition_name(ref: str) -> str | None:
    """The name in ``#/$defs/<name>`` or ``#/definitions/<name>``, else ``None``."""
    parts = ref_parts(ref)
    if parts is None or len(parts) != 2 or parts[0] not in ("$defs", "definitions"):
        return None
    return parts[1]


def resolve_ref(root: Mapping[str, Any], ref: str) -> Any:
    """What a local ``ref`` points at in ``root``; ``None`` if it is not local or not there."""
    parts = ref_parts(ref)
    if parts is None:
        return None
    target: Any = root
    for part in parts:
        if not isinstance(target, Mapping) or part not in target:
            return None
        target = target[part]
    return target
