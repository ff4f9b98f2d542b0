"""Closing JSON Schemas, and making them acceptable to vLLM's strict (guided-decoding) mode.

Two transformations, both on a deep copy (the caller's schema is never mutated):

``close_schema`` is what *validation* uses: every object that does not say otherwise gets
``additionalProperties: false``, recursively, so keys the schema does not declare are rejected
(a plain JSON-Schema validator accepts them when ``additionalProperties`` is absent); a name in
``required`` that ``properties`` lacks is declared as ``{}`` (any value). An object
that also composes other schemas (``allOf``/``anyOf``/``oneOf``/``$ref``/``if``) next to its own
properties is closed with ``unevaluatedProperties: false`` instead, and its branches are left
open, so properties declared in a branch still count. An explicit ``additionalProperties``,
``unevaluatedProperties`` or ``patternProperties`` is kept as written: that is the schema
"explicitly allowing" extras. A tuple (``prefixItems`` without ``items``) gets ``items: false``.

``strict_schema`` is what the *LLM* sees (``Tool.parameters_schema()``). It is the closed schema,
made acceptable to every structured-output backend vLLM 0.32 picks from (xgrammar by default,
then guidance/llguidance, then outlines; see ``vllm/v1/structured_output/backend_xgrammar.py``
``has_xgrammar_unsupported_json_features`` and ``backend_guidance.py``):

* local ``$ref`` s are inlined and ``$defs`` dropped: when ``tool_choice="required"`` vLLM hoists
  every tool's ``$defs`` into one schema and rejects two tools that define the same name
  differently. A recursive definition cannot be inlined; it stays, renamed with a hash of its
  content so equal names always mean equal schemas.
* every object lists ``properties`` (``{}`` if none) and gets ``additionalProperties: false``;
  a name in ``required`` that ``properties`` lacks is added as ``{}`` (any value), since a closed
  object could otherwise never satisfy it.
* constructs xgrammar rejects are relaxed, never tightened: ``multipleOf``; ``uniqueItems`` /
  ``contains`` / ``minContains`` / ``maxContains``; a string ``format`` xgrammar does not know;
  ``minLength``/``maxLength`` next to ``pattern``/``format``; ``propertyNames``;
  ``patternProperties`` (guidance rejects it; becomes ``additionalProperties``: any of the
  pattern schemas); a multi-branch ``allOf`` is merged into its parent when the branches do not
  conflict, else dropped. ``oneOf`` becomes ``anyOf`` (llguidance rejects ``oneOf``; xgrammar
  reads it as ``anyOf`` anyway); ``discriminator`` (an OpenAPI keyword pydantic emits) is dropped.

The LLM-facing schema may therefore be *looser* than the validation schema (never stricter):
the runtime still validates every call against the full schema and sends back exact errors.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from agent.errors import ConfigError
from agent.tooling._refs import definition_name

# cf. vllm/v1/structured_output/backend_xgrammar.py STRING_SUPPORTED_FORMATS (vLLM 0.32)
XGRAMMAR_FORMATS = frozenset(
    {
        "email",
        "date",
        "time",
        "date-time",
        "duration",
        "ipv4",
        "ipv6",
        "hostname",
        "uuid",
        "uri",
        "uri-reference",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
    }
)
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_VALUES = (
    "items",
    "additionalProperties",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
)
_SCHEMA_LISTS = ("prefixItems", "allOf", "anyOf", "oneOf")
_COMPOSERS = ("allOf", "anyOf", "oneOf", "$ref", "if", "dependentSchemas")
_OPENERS = ("additionalProperties", "unevaluatedProperties")


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return set()


def _is_object_schema(node: dict[str, Any]) -> bool:
    if "properties" in node or "required" in node or "object" in _types(node):
        return True
    parts = node.get("allOf")
    return isinstance(parts, list) and any(
        isinstance(p, dict) and _is_object_schema(p) for p in parts
    )


# ----------------------------------------------------------------------------- closing


def close_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` in which undeclared keys are rejected everywhere (see module doc)."""
    closed = copy.deepcopy(schema)
    _close(closed, is_part=False)
    return closed


def validation_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """What arguments are validated against: ``schema`` with refs inlined, then closed."""
    return close_schema(inline_refs(schema))


def _close(node: Any, *, is_part: bool) -> None:
    if not isinstance(node, dict):
        return
    is_object = _is_object_schema(node)
    composed = any(key in node for key in _COMPOSERS)
    for key in _SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            for sub in node[key].values():
                _close(sub, is_part=key == "dependentSchemas")
    for key in _SCHEMA_VALUES:
        if key in node:
            _close(node[key], is_part=key in ("if", "then", "else"))
    for key in _SCHEMA_LISTS:
        if isinstance(node.get(key), list):
            # Branches of an object that has its own properties are parts of that object:
            # the object closes over all of them with unevaluatedProperties.
            parts = key == "allOf" or key != "prefixItems" and "properties" in node
            for sub in node[key]:
                _close(sub, is_part=parts)
    # "not" is left alone: closing inside it would invert the meaning.
    if "prefixItems" in node and "items" not in node:
        node["items"] = False
    if is_part or not is_object or any(key in node for key in _OPENERS):
        return
    if composed:
        node["unevaluatedProperties"] = False
        return
    node["additionalProperties"] = False
    required = [n for n in node.get("required", []) if isinstance(n, str)]
    if any(n not in node.get("properties", {}) for n in required):
        # Required yet undeclared: the author means "any value", not "impossible".
        props = node.setdefault("properties", {})
        for name in required:
            props.setdefault(name, {})


# ----------------------------------------------------------------------------- strict mode


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema to send to the LLM: closed, refs inlined, backend-safe (see module doc)."""
    strict = validation_schema(schema)
    _relax(strict)
    return strict


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` with every local ``$ref`` replaced by its target (see module doc).

    Raises ``ConfigError`` for a reference that is not to ``#/$defs/...``/``#/definitions/...``.
    """
    if not isinstance(schema, dict):
        raise ConfigError(f"a tool's parameters schema must be a JSON object, got {schema!r}")
    source = copy.deepcopy(schema)
    defs = {**source.pop("definitions", {}), **source.pop("$defs", {})}
    kept: dict[str, Any] = {}
    inlined = _inline(source, defs, kept, {}, stack=())
    if kept:
        inlined["$defs"] = kept
    return inlined  # type: ignore[no-any-return]


def _inline(
    node: Any,
    defs: dict[str, Any],
    kept: dict[str, Any],
    renames: dict[str, str],
    stack: tuple[str, ...],
) -> Any:
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    name = definition_name(ref) if isinstance(ref, str) else None
    if ref is not None and (name is None or name not in defs):
        raise ConfigError(
            f"schema reference {ref!r} cannot be resolved: only local '#/$defs/...' "
            "references are supported; inline the referenced schema"
        )
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {n: _inline(v, defs, kept, renames, stack) for n, v in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_inline(v, defs, kept, renames, stack) for v in value]
        elif key in _SCHEMA_VALUES or key == "not":
            out[key] = _inline(value, defs, kept, renames, stack)
        elif key != "$ref":
            out[key] = value  # data (enum, default, ...) or an annotation
    if name is None:
        return out
    if name in stack:  # recursive: keep it as a (content-addressed) definition
        return {**out, "$ref": f"#/$defs/{_keep_recursive(name, defs, kept, renames, stack)}"}
    target = _inline(defs[name], defs, kept, renames, (*stack, name))
    if not out or not isinstance(target, dict):
        return target
    # Siblings of a $ref (pydantic puts description/default there) apply alongside it.
    merged = {**target, **out}
    if isinstance(target.get("properties"), dict) and isinstance(out.get("properties"), dict):
        merged["properties"] = {**target["properties"], **out["properties"]}
    if isinstance(target.get("required"), list) and isinstance(out.get("required"), list):
        merged["required"] = list(dict.fromkeys([*target["required"], *out["required"]]))
    return merged


def _keep_recursive(
    name: str,
    defs: dict[str, Any],
    kept: dict[str, Any],
    renames: dict[str, str],
    stack: tuple[str, ...],
) -> str:
    if name in renames:
        return renames[name]
    digest = hashlib.sha256(json.dumps(defs[name], sort_keys=True).encode()).hexdigest()[:8]
    renames[name] = new_name = f"{name}_{digest}"
    kept[new_name] = {}  # placeholder while its own body is inlined (it refers to itself)
    kept[new_name] = _inline(defs[name], defs, kept, renames, (name,))
    return new_name


def subschemas(node: dict[str, Any]) -> list[Any]:
    """The schemas directly inside ``node`` (never ``enum``/``const``/``default`` values)."""
    out: list[Any] = []
    for key in _SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            out += node[key].values()
    out += [node[key] for key in (*_SCHEMA_VALUES, "not") if key in node]
    for key in _SCHEMA_LISTS:
        if isinstance(node.get(key), list):
            out += node[key]
    return out


def _relax(node: Any) -> None:
    if not isinstance(node, dict):
        return
    # pydantic's automatic titles ("Expression") are noise to the model: measured on the local
    # 0.5B model, it copied "title"/"type" from the schema into its arguments.
    node.pop("title", None)
    node.pop("discriminator", None)
    node.pop("multipleOf", None)
    for key in ("uniqueItems", "contains", "minContains", "maxContains"):
        node.pop(key, None)
    fmt = node.get("format")
    if fmt is not None and fmt not in XGRAMMAR_FORMATS:
        del node["format"]
    if "pattern" in node or "format" in node:
        node.pop("minLength", None)
        node.pop("maxLength", None)
    node.pop("propertyNames", None)
    patterns = node.pop("patternProperties", None)
    if isinstance(patterns, dict) and patterns:
        extra = node.get("additionalProperties", False)
        if extra is not True:
            values = list(patterns.values()) + ([extra] if isinstance(extra, dict) else [])
            node["additionalProperties"] = values[0] if len(values) == 1 else {"anyOf": values}
    _merge_all_of(node)
    _distribute(node)
    if isinstance(node.get("oneOf"), list):  # llguidance rejects oneOf; xgrammar reads it as anyOf
        branches = node.pop("oneOf")
        if "anyOf" not in node:
            node["anyOf"] = branches
    if node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False:
        props = node.setdefault("properties", {})
        for name in node.get("required", []):
            if isinstance(name, str):
                props.setdefault(name, {})
    for sub in subschemas(node):
        _relax(sub)


def _merge_all_of(node: dict[str, Any]) -> None:
    branches = node.get("allOf")
    if not isinstance(branches, list) or len(branches) < 2:
        return
    merged: dict[str, Any] = {}
    for branch in branches:
        if not isinstance(branch, dict):
            return
        for key, value in branch.items():
            if key == "properties" and isinstance(value, dict):
                merged.setdefault("properties", {}).update(value)
            elif key == "required" and isinstance(value, list):
                merged.setdefault("required", [])
                merged["required"] += [r for r in value if r not in merged["required"]]
            elif key in ("additionalProperties", "unevaluatedProperties"):
                continue  # the merged object is closed as a whole below
            elif key in merged and merged[key] != value:
                del node["allOf"]  # conflicting branches: relax rather than guess
                return
            else:
                merged[key] = value
    del node["allOf"]
    for key, value in merged.items():
        if key == "properties":
            node.setdefault("properties", {}).update(value)
        elif key == "required":
            node["required"] = list(dict.fromkeys([*node.get("required", []), *value]))
        elif key not in node:
            node[key] = value
    if node.pop("unevaluatedProperties", None) is False:
        node["additionalProperties"] = False


def _distribute(node: dict[str, Any]) -> None:
    """``{properties: P, oneOf: [A, B]}`` -> ``{oneOf: [P+A, P+B]}``, each closed on its own.

    llguidance rejects ``unevaluatedProperties``, which is how ``close_schema`` closes such an
    object; with the parent's properties copied into every branch, ``additionalProperties``
    says the same thing.
    """
    if node.pop("unevaluatedProperties", None) is not False:
        return
    keys = [k for k in ("anyOf", "oneOf") if isinstance(node.get(k), list)]
    branches = node[keys[0]] if len(keys) == 1 else None
    if branches is None or not all(isinstance(b, dict) for b in branches):
        node["additionalProperties"] = True  # cannot say it exactly: relax
        return
    own = {k: node.pop(k) for k in ("properties", "required") if k in node}
    merged_branches = []
    for branch in branches:
        merged = dict(branch)
        merged["properties"] = {**own.get("properties", {}), **branch.get("properties", {})}
        required = [*own.get("required", []), *branch.get("required", [])]
        if required:
            merged["required"] = list(dict.fromkeys(required))
        if "unevaluatedProperties" not in merged:
            merged.setdefault("additionalProperties", False)
        merged_branches.append(merged)
    node[keys[0]] = merged_branches
