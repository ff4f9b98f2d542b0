"""agent.tooling.strict_schema: closed schemas for validation, backend-safe schemas for vLLM
strict mode.

"Accepted by vLLM" is checked with the real parts where installed: vLLM 0.32's own
feature checks (read from its source without importing vllm, which would pull torch in), and
the xgrammar and llguidance compilers it hands the schema to.
"""

from __future__ import annotations

import ast
import copy
import importlib
import importlib.util
import inspect
import json
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field

import tools
from agent.errors import ConfigError
from agent.loop import final_answer_spec
from agent.tooling import FunctionTool, Tool, close_schema, strict_schema, validation_schema
from tests._schemas import union_with_shared_property

# ----------------------------------------------------------------------------- backends


def _vllm_feature_checks() -> dict[str, Callable[[dict[str, Any]], bool]]:
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    base = Path(next(iter(spec.submodule_search_locations))) / "v1" / "structured_output"
    wanted = {
        "backend_xgrammar.py": "has_xgrammar_unsupported_json_features",
        "backend_guidance.py": "has_guidance_unsupported_json_features",
    }
    checks: dict[str, Callable[[dict[str, Any]], bool]] = {}
    for filename, function in wanted.items():
        try:
            module = ast.parse((base / filename).read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            continue  # another vLLM layout: the compilers below still run
        # The check and the module-level helpers/constants it uses; nothing that needs torch.
        keep = [
            node
            for node in module.body
            if isinstance(node, ast.FunctionDef)
            and (node.name == function or node.name.startswith("_"))
            or isinstance(node, ast.Assign)
            and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
        ]
        namespace: dict[str, Any] = {"Any": Any}
        exec(compile(ast.Module(body=keep, type_ignores=[]), filename, "exec"), namespace)
        if function in namespace:
            checks[function] = namespace[function]
    return checks


VLLM_CHECKS = _vllm_feature_checks()


def compile_with_backends(schema: dict[str, Any]) -> list[str]:
    """Every backend that ran; raises if one rejects ``schema``."""
    ran = []
    for name, unsupported in VLLM_CHECKS.items():
        assert not unsupported(copy.deepcopy(schema)), f"vLLM {name} flags {json.dumps(schema)}"
        ran.append(name)
    try:
        import xgrammar
    except ImportError:
        pass
    else:
        xgrammar.Grammar.from_json_schema(json.dumps(schema), strict_mode=True)
        ran.append("xgrammar")
    try:
        import llguidance
    except ImportError:
        pass
    else:
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            schema, defaults={"whitespace_flexible": True}
        )
        assert llguidance.LLMatcher.validate_grammar(grammar, None) == ""
        ran.append("llguidance")
    if not ran:
        pytest.skip("neither vllm, xgrammar nor llguidance is installed")
    return ran


def object_nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object-like subschema (has properties/required/type object)."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if "properties" in schema or kind == "object" or "required" in schema:
            yield schema
        for key, value in schema.items():
            if key in ("enum", "const", "default", "examples"):
                continue
            if key in ("properties", "$defs", "patternProperties"):
                for sub in value.values():
                    yield from object_nodes(sub)
            else:
                yield from object_nodes(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from object_nodes(item)


def assert_strict(schema: dict[str, Any]) -> None:
    """Closed everywhere, every object lists its properties, refs only for recursion."""
    Draft202012Validator.check_schema(schema)
    for node in object_nodes(schema):
        if "properties" not in node and ("anyOf" in node or "oneOf" in node):
            continue  # a union: each branch is an object node of its own
        extra = node.get("additionalProperties")
        assert (
            extra is False or isinstance(extra, dict) or extra is True and "properties" not in node
        ), node
        if extra is False:
            assert isinstance(node.get("properties"), dict), node
            assert set(node.get("required", [])) <= set(node["properties"]), node
    text = json.dumps(schema)
    assert "unevaluatedProperties" not in text  # llguidance rejects it
    assert '"#/definitions/' not in text


# ----------------------------------------------------------------------------- close_schema

NESTED = {
    "type": "object",
    "properties": {
        "filters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"op": {"enum": ["eq", "lt"]}, "value": {"type": "number"}},
                "required": ["op"],
            },
        },
        "options": {"anyOf": [{"$ref": "#/$defs/Options"}, {"type": "null"}]},
        "free": {"type": "object", "additionalProperties": True},
        "scores": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
    "$defs": {"Options": {"type": "object", "properties": {"deep": {"type": "boolean"}}}},
}


def errors(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = Draft202012Validator(schema)
    return sorted(
        ".".join(map(str, e.absolute_path)) + ":" + str(e.validator)
        for e in validator.iter_errors(instance)
    )


def test_close_schema_rejects_undeclared_keys_at_every_level_without_mutating() -> None:
    before = copy.deepcopy(NESTED)
    closed = close_schema(NESTED)
    assert before == NESTED
    assert errors(NESTED, {"x": 1, "filters": [{"op": "eq", "y": 2}]}) == []  # a plain validator
    assert errors(closed, {"x": 1}) == [":additionalProperties"]
    assert errors(closed, {"filters": [{"op": "eq", "y": 2}]}) == ["filters.0:additionalProperties"]
    assert errors(closed, {"options": {"deep": True, "z": 0}}) == ["options:anyOf"]
    # what the schema explicitly opens stays open
    assert errors(closed, {"free": {"anything": [1]}, "scores": {"a": 1}}) == []
    assert errors(closed, {"scores": {"a": "x"}}) == ["scores.a:type"]


def test_closing_keeps_composed_objects_satisfiable() -> None:
    schema = union_with_shared_property()
    both = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string"}}},
        ]
    }
    closed, closed_both = close_schema(schema), close_schema(both)
    assert errors(closed, {"kind": "a", "x": 1}) == []
    assert errors(closed, {"kind": "b", "y": "s"}) == []
    assert errors(closed, {"kind": "a", "x": 1, "z": 2}) == [":unevaluatedProperties"]
    assert errors(closed_both, {"a": 1, "b": "s"}) == []
    assert errors(closed_both, {"a": 1, "c": "s"}) == [":unevaluatedProperties"]


def test_tuples_are_closed_and_pattern_properties_are_not_an_opening() -> None:
    schema = {
        "type": "object",
        "properties": {
            "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]},
            "env": {"type": "object", "patternProperties": {"^X_": {"type": "string"}}},
        },
    }
    closed = close_schema(schema)
    assert errors(closed, {"point": [1, 2], "env": {"X_A": "1"}}) == []
    assert errors(closed, {"point": [1, 2, 3]}) == ["point:items"]
    assert errors(closed, {"env": {"Y": "1"}}) == ["env:additionalProperties"]


# ----------------------------------------------------------------------------- strict_schema


def test_strict_schema_inlines_refs_and_closes_everything() -> None:
    before = copy.deepcopy(NESTED)
    strict = strict_schema(NESTED)
    assert before == NESTED
    assert "$defs" not in strict and "$ref" not in json.dumps(strict)
    options = strict["properties"]["options"]["anyOf"][0]
    assert options == {
        "type": "object",
        "properties": {"deep": {"type": "boolean"}},
        "additionalProperties": False,
    }
    assert_strict(strict)
    compile_with_backends(strict)


def test_recursive_definitions_stay_and_are_named_by_content() -> None:
    def tree(leaf_type: str) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/Node"}},
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "value": {"type": leaf_type},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    },
                }
            },
        }

    a, b = strict_schema(tree("integer")), strict_schema(tree("string"))
    (name_a,), (name_b,) = a["$defs"], b["$defs"]
    # vLLM merges every tool's $defs under tool_choice=required: same name must mean same schema
    assert name_a.startswith("Node_") and name_a != name_b
    assert a["$defs"][name_a]["additionalProperties"] is False
    assert_strict(a)
    compile_with_backends(a)
    validator = Draft202012Validator(validation_schema(tree("integer")))
    assert validator.is_valid({"root": {"value": 1, "children": [{"value": 2}]}})
    assert not validator.is_valid({"root": {"value": 1, "children": [{"value": 2, "x": 0}]}})


def test_constructs_backends_reject_are_relaxed_never_tightened() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "number", "multipleOf": 0.5},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "code": {"type": "string", "pattern": "^[A-Z]+$", "maxLength": 5},
            "path": {"type": "string", "format": "path"},
            "when": {"type": "string", "format": "date-time"},
            "env": {"type": "object", "patternProperties": {"^X_": {"type": "string"}}},
            "keys": {"type": "object", "propertyNames": {"maxLength": 3}},
            "both": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "string"}}},
                ]
            },
            "pet": {
                "oneOf": [
                    {"type": "object", "properties": {"kind": {"const": "cat"}}},
                    {"type": "object", "properties": {"kind": {"const": "dog"}}},
                ],
                "discriminator": {"propertyName": "kind"},
            },
        },
        "required": ["n", "undeclared"],
    }
    strict = strict_schema(schema)
    props = strict["properties"]
    assert props["n"] == {"type": "number"}
    assert "uniqueItems" not in props["tags"]
    assert props["code"] == {"type": "string", "pattern": "^[A-Z]+$"}
    assert "format" not in props["path"] and props["when"]["format"] == "date-time"
    assert props["env"]["additionalProperties"] == {"type": "string"}
    assert "propertyNames" not in props["keys"]
    assert props["both"]["properties"] == {"a": {"type": "integer"}, "b": {"type": "string"}}
    assert props["both"]["additionalProperties"] is False and "allOf" not in props["both"]
    assert "discriminator" not in props["pet"]
    assert props["undeclared"] == {}
    assert_strict(strict)
    compile_with_backends(strict)
    # relaxed, never tightened: what the full schema accepts, the strict one accepts
    valid = {
        "n": 1.5,
        "tags": ["a"],
        "code": "AB",
        "path": "/x",
        "when": "2024-01-01T00:00:00Z",
        "env": {"X_A": "1"},
        "both": {"a": 1, "b": "s"},
        "pet": {"kind": "cat"},
        "undeclared": 0,
    }
    assert Draft202012Validator(validation_schema(schema)).is_valid(valid)
    assert Draft202012Validator(strict).is_valid(valid)


def test_properties_beside_a_union_are_distributed_into_each_branch() -> None:
    schema = union_with_shared_property()
    strict = strict_schema(schema)
    assert [sorted(b["properties"]) for b in strict["anyOf"]] == [["kind", "x"], ["kind", "y"]]
    assert all(b["additionalProperties"] is False for b in strict["anyOf"])
    assert Draft202012Validator(strict).is_valid({"kind": "a", "x": 1})
    assert not Draft202012Validator(strict).is_valid({"kind": "a", "x": 1, "z": 0})
    assert_strict(strict)
    compile_with_backends(strict)


def test_remote_refs_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="only local"):
        strict_schema({"type": "object", "properties": {"a": {"$ref": "https://x/y.json"}}})


# ----------------------------------------------------------------------------- pydantic tools


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")  # FunctionTool requires it on nested models too
    depth: int = Field(default=1, ge=0, multiple_of=1)


class OuterArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(..., min_length=1, max_length=200, pattern=r"\S")
    inner: Inner | None = None
    inners: list[Inner] = Field(default_factory=list)


async def _outer(args: OuterArgs) -> str:
    return args.query


def test_function_tool_sends_the_strict_schema() -> None:
    tool = FunctionTool(_outer, OuterArgs, name="outer", description="d")
    schema = tool.openai_spec()["function"]["parameters"]
    assert schema is tool.parameters_schema()
    assert "$defs" not in schema
    assert schema["properties"]["inner"]["anyOf"][0]["additionalProperties"] is False
    assert schema["properties"]["query"].get("maxLength") is None  # beside a pattern
    assert_strict(schema)
    compile_with_backends(schema)


def _builtin_tools() -> Iterator[tuple[str, Tool]]:
    """Every ``tools/*.py`` ``make_*`` factory that needs no argument."""
    for info in pkgutil.iter_modules(tools.__path__):
        module = importlib.import_module(f"tools.{info.name}")
        for name, factory in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("make_") or factory.__module__ != module.__name__:
                continue
            params = inspect.signature(factory).parameters.values()
            if all(
                p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                for p in params
            ):
                yield f"tools.{info.name}.{name}", factory()


BUILTINS = list(_builtin_tools())


def test_builtin_tools_are_found() -> None:
    assert "tools.calculator.make_calculator_tool" in [name for name, _ in BUILTINS]


@pytest.mark.parametrize(("factory", "tool"), BUILTINS, ids=[n for n, _ in BUILTINS])
def test_every_builtin_tool_schema_is_strict_mode_valid(factory: str, tool: Tool) -> None:
    schema = tool.openai_spec()["function"]["parameters"]
    assert_strict(schema)
    assert compile_with_backends(schema)


def test_final_answer_schema_is_strict_mode_valid() -> None:
    schema = final_answer_spec()["function"]["parameters"]
    assert_strict(schema)
    compile_with_backends(schema)
