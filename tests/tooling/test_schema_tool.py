"""agent.tooling.schema_tool: JSON-Schema tools validated as strictly as pydantic ones.

The coercion-policy tests run every case through *both* paths, a pydantic ``FunctionTool`` and
a ``JsonSchemaTool`` built from that same model's JSON Schema, and require the same verdict.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from agent.errors import ConfigError
from agent.tooling import (
    FunctionTool,
    JsonSchemaTool,
    Tool,
    ToolArgumentsError,
    decode_arguments,
    tools_from_openai_specs,
)
from tests._schemas import union_with_shared_property

# ----------------------------------------------------------------------------- both paths


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int
    y: float = 0.0


class PolicyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    i: int = 0
    f: float = 0.0
    b: bool = False
    s: str = ""
    i_or_s: int | str = 0
    maybe_i: int | None = None
    ints: list[int] = Field(default_factory=list)
    point: Point | None = None


async def _echo(args: PolicyArgs) -> str:
    return args.model_dump_json()


def _noop(**kwargs: Any) -> dict[str, Any]:
    return kwargs


PYDANTIC = FunctionTool(_echo, PolicyArgs, name="policy", description="d")
SCHEMA = JsonSchemaTool(
    name="policy", description="d", parameters=PolicyArgs.model_json_schema(), fn=_noop
)


def outcome(tool: Tool, arguments: dict[str, Any]) -> Any:
    """The validated value of the single field given, or the paths of the errors."""
    try:
        validated = tool.validate(arguments)
    except ToolArgumentsError as exc:
        return ("rejected", [e.path for e in exc.errors])
    values = validated.model_dump() if isinstance(validated, BaseModel) else validated
    (field,) = arguments
    return values[field]


ACCEPTED = [
    ({"i": 3}, 3),
    ({"i": "3"}, 3),
    ({"i": " 3 "}, 3),
    ({"i": 3.0}, 3),
    ({"i": "3.0"}, 3),
    ({"i": "1e3"}, 1000),
    ({"i": "-7"}, -7),
    ({"f": 2.5}, 2.5),
    ({"f": "2.5"}, 2.5),
    ({"f": 3}, 3),
    ({"f": "-1.5e2"}, -150.0),
    ({"b": True}, True),
    ({"s": "3"}, "3"),
    ({"i_or_s": "3"}, "3"),  # a string is acceptable there: never coerced
    ({"i_or_s": 3}, 3),
    ({"maybe_i": "4"}, 4),
    ({"maybe_i": None}, None),
    ({"ints": ["1", 2.0, 3]}, [1, 2, 3]),
    ({"point": {"x": "5", "y": "0.5"}}, {"x": 5, "y": 0.5}),
]
REJECTED = [
    ({"i": 3.5}, ["i"]),
    ({"i": "3.5"}, ["i"]),
    ({"i": "abc"}, ["i"]),
    ({"i": True}, ["i"]),
    ({"i": "0x10"}, ["i"]),
    ({"i": "1_000"}, ["i"]),
    ({"i": ""}, ["i"]),
    ({"f": "NaN"}, ["f"]),
    ({"f": "inf"}, ["f"]),
    ({"f": "1e400"}, ["f"]),
    ({"f": True}, ["f"]),
    ({"f": [1]}, ["f"]),
    ({"b": "true"}, ["b"]),
    ({"b": 1}, ["b"]),
    ({"b": 0.0}, ["b"]),
    ({"s": 3}, ["s"]),
    ({"s": True}, ["s"]),
    ({"ints": [1, "x"]}, ["ints[1]"]),
    ({"point": {"x": 1, "z": 2}}, ["point.z"]),
    ({"unknown": 1}, ["unknown"]),
]


@pytest.mark.parametrize(("arguments", "expected"), ACCEPTED, ids=repr)
def test_coercion_policy_accepts_the_same_on_both_paths(
    arguments: dict[str, Any], expected: Any
) -> None:
    for tool in (PYDANTIC, SCHEMA):
        got = outcome(tool, arguments)
        assert got == expected, type(tool).__name__
        if isinstance(expected, int) and not isinstance(expected, bool):
            assert type(got) is type(expected) or isinstance(tool, FunctionTool)


@pytest.mark.parametrize(("arguments", "paths"), REJECTED, ids=repr)
def test_coercion_policy_rejects_the_same_on_both_paths(
    arguments: dict[str, Any], paths: list[str]
) -> None:
    assert outcome(SCHEMA, arguments) == ("rejected", paths)
    verdict, pydantic_paths = outcome(PYDANTIC, arguments)
    assert verdict == "rejected"
    assert pydantic_paths[0] == paths[0]


def test_integers_reach_the_callable_as_int() -> None:
    validated = SCHEMA.validate({"i": "3", "ints": [2.0], "point": {"x": 1.0}})
    assert type(validated["i"]) is int and type(validated["ints"][0]) is int
    assert type(validated["point"]["x"]) is int


@pytest.mark.parametrize("raw", ['{"i": "3"}', '"{\\"i\\": \\"3\\"}"'])
def test_arguments_sent_as_a_json_string_are_decoded_for_both(raw: str) -> None:
    for tool in (PYDANTIC, SCHEMA):
        assert outcome(tool, decode_arguments(tool.name, raw)) == 3


def test_coercion_never_mutates_the_models_arguments() -> None:
    arguments = {"i": "3", "ints": ["1"]}
    SCHEMA.validate(arguments)
    PYDANTIC.validate(arguments)
    assert arguments == {"i": "3", "ints": ["1"]}


# ----------------------------------------------------------------------------- errors

SEARCH = {
    "type": "object",
    "properties": {
        "filters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "op": {"enum": ["eq", "lt", "gt"]},
                    "value": {"anyOf": [{"type": "number"}, {"type": "string"}]},
                },
                "required": ["field", "op"],
            },
        },
        "limit": {"type": "integer", "minimum": 1, "default": 10},
        "sort": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "by": {"type": "string"},
                        "order": {"enum": ["asc", "desc"], "default": "asc"},
                    },
                    "required": ["by"],
                },
                {"type": "null"},
            ]
        },
        "since": {"type": "string", "format": "date-time"},
        "owner": {"type": "string", "format": "email"},
        "id": {"type": "string", "format": "uuid"},
        "day": {"type": "string", "format": "date"},
        "link": {"type": "string", "format": "uri"},
    },
    "required": ["filters"],
}


def search_tool(**kw: Any) -> JsonSchemaTool:
    return JsonSchemaTool(name="search", description="d", parameters=SEARCH, fn=_noop, **kw)


def rejected(tool: Tool, arguments: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ToolArgumentsError) as info:
        tool.validate(arguments)
    assert info.value.tool_name == tool.name
    return {e.path: e.message for e in info.value.errors}


def test_each_offending_field_is_named_by_path_with_expected_and_given() -> None:
    errors = rejected(
        search_tool(),
        {
            "filters": [
                {"field": "a", "op": "eq"},
                {"field": "b", "op": "lt", "value": 1},
                {"field": "c", "op": "like", "extra": True},
            ],
            "limit": "ten",
            "surprise": 1,
        },
    )
    assert errors == {
        "filters[2].op": 'expected one of "eq", "lt", "gt" (given: "like")',
        "filters[2].extra": "unexpected field: this tool does not take it "
        "(fields allowed here: field, op, value)",
        "limit": 'expected an integer (given: "ten")',
        "surprise": "unexpected field: this tool does not take it (fields allowed here: "
        "filters, limit, sort, since, owner, id, day, link)",
    }


def test_missing_required_fields_are_named_at_any_depth() -> None:
    errors = rejected(search_tool(), {"sort": {"order": "asc"}})
    assert errors == {
        "filters": "required field is missing",
        "sort.by": "required field is missing",
    }


def test_any_of_reports_the_branch_that_fits_the_value() -> None:
    # an object was given: the object branch's complaint, not "is not of type 'null'"
    errors = rejected(search_tool(), {"filters": [], "sort": {"by": 3, "order": "up"}})
    assert errors == {
        "sort.by": "expected a string (given: 3)",
        "sort.order": 'expected one of "asc", "desc" (given: "up")',
    }
    # nothing fits: every alternative is listed
    assert rejected(search_tool(), {"filters": [], "sort": 5}) == {
        "sort": "expected an object or null (given: 5)"
    }
    assert rejected(search_tool(), {"filters": [{"field": "f", "op": "eq", "value": []}]}) == {
        "filters[0].value": "expected a number or a string (given: [])"
    }


def test_bounds_are_reported_with_the_bound() -> None:
    assert rejected(search_tool(), {"filters": [], "limit": 0}) == {
        "limit": "expected a number >= 1 (given: 0)"
    }


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("since", "2024-05-01T12:00:00Z", "yesterday"),
        ("owner", "ops@example.com", "ops at example"),
        ("id", "0b8f9a1e-7a55-4e7c-9c7e-2f1d3c4b5a69", "1234"),
        ("day", "2024-02-29", "2023-02-29"),
        ("link", "https://example.com/a?b=c", "not a uri"),
    ],
)
def test_declared_string_formats_are_checked(field: str, good: str, bad: str) -> None:
    tool = search_tool()
    assert tool.validate({"filters": [], field: good})[field] == good
    fmt = SEARCH["properties"][field]["format"]
    assert rejected(tool, {"filters": [], field: bad}) == {
        field: f'expected a string in {fmt} format (given: "{bad}")'
    }


def test_defaults_are_applied_including_inside_the_union_branch_that_matched() -> None:
    tool = search_tool()
    first = tool.validate({"filters": [], "sort": {"by": "date"}})
    assert first == {"filters": [], "sort": {"by": "date", "order": "asc"}, "limit": 10}
    assert tool.validate({"filters": [], "sort": None}) == {
        "filters": [],
        "sort": None,
        "limit": 10,
    }


def test_defaults_are_fresh_copies() -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}, "default": []}},
    }
    tool = JsonSchemaTool(name="t", description="d", parameters=schema, fn=_noop)
    tool.validate({})["tags"].append("mutated")
    assert tool.validate({}) == {"tags": []}
    assert schema["properties"]["tags"]["default"] == []


def test_the_callers_schema_is_never_mutated() -> None:
    before = copy.deepcopy(SEARCH)
    tool = search_tool()
    tool.validate({"filters": []})
    assert before == SEARCH
    assert "additionalProperties" not in SEARCH
    assert tool.parameters_schema()["additionalProperties"] is False


def test_extras_are_accepted_only_where_the_schema_says_so() -> None:
    schema = {
        "type": "object",
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "meta": {"type": "object", "additionalProperties": True},
            "closed": {"type": "object"},
        },
    }
    tool = JsonSchemaTool(name="t", description="d", parameters=schema, fn=_noop)
    assert tool.validate({"labels": {"a": "b"}, "meta": {"x": [1]}, "closed": {}})
    assert rejected(tool, {"labels": {"a": 1}}) == {"labels.a": "expected a string (given: 1)"}
    assert rejected(tool, {"closed": {"a": 1}}) == {
        "closed.a": "unexpected field: this tool does not take it (fields allowed here: none)"
    }


def test_integer_and_number_are_distinct() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "x": {"type": "number"}},
    }
    tool = JsonSchemaTool(name="t", description="d", parameters=schema, fn=_noop)
    assert tool.validate({"n": 2, "x": 2}) == {"n": 2, "x": 2}
    assert rejected(tool, {"n": 2.5}) == {"n": "expected an integer (given: 2.5)"}


# ----------------------------------------------------------------------------- calling


def test_a_sync_callable_runs_in_a_worker_thread_with_keyword_arguments() -> None:
    seen: dict[str, Any] = {}

    def add(a: int, b: int = 1) -> int:
        seen["thread"] = threading.get_ident()
        return a + b

    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 1}},
        "required": ["a"],
    }
    tool = JsonSchemaTool(name="add", description="d", parameters=schema, fn=add)

    async def main() -> tuple[Any, int]:
        return await tool.ainvoke(tool.validate({"a": "41"})), threading.get_ident()

    result, loop_thread = asyncio.run(main())
    assert result == 42
    assert seen["thread"] != loop_thread


def test_async_callables_are_awaited_on_the_loop() -> None:
    async def shout(text: str) -> str:
        await asyncio.sleep(0)
        return text.upper()

    class Shouter:
        async def __call__(self, text: str) -> str:
            return text.upper() + "!"

    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    for fn, expected in ((shout, "HI"), (Shouter(), "HI!")):
        tool = JsonSchemaTool(name="shout", description="d", parameters=schema, fn=fn)
        assert asyncio.run(tool.ainvoke(tool.validate({"text": "hi"}))) == expected


def test_no_parameters_means_an_empty_closed_object() -> None:
    tool = JsonSchemaTool(name="now", description="d", parameters=None, fn=lambda: "noon")
    assert tool.parameters_schema() == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    assert asyncio.run(tool.ainvoke(tool.validate({}))) == "noon"
    assert rejected(tool, {"tz": "UTC"}) == {
        "tz": "unexpected field: this tool does not take it (fields allowed here: none)"
    }


# ----------------------------------------------------------------------------- registration


WEATHER_SPEC = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}


def get_weather(city: str, units: str = "celsius") -> str:
    return f"{city}: 21 {units}"


def test_openai_specs_with_a_function_map_become_tools() -> None:
    flat = {"type": "function", **WEATHER_SPEC["function"], "name": "get_weather_flat"}
    tools = tools_from_openai_specs(
        [WEATHER_SPEC, flat], {"get_weather": get_weather, "get_weather_flat": get_weather}
    )
    assert [t.name for t in tools] == ["get_weather", "get_weather_flat"]
    spec = tools[0].openai_spec()["function"]
    assert spec["description"] == "Current weather for a city."
    assert spec["parameters"]["additionalProperties"] is False
    assert asyncio.run(tools[0].ainvoke(tools[0].validate({"city": "Oslo"}))) == "Oslo: 21 celsius"


def test_registration_mistakes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"no callable: add function_map\['get_weather'\]"):
        tools_from_openai_specs([WEATHER_SPEC], {})
    with pytest.raises(ConfigError, match="no tool spec: typo"):
        tools_from_openai_specs([WEATHER_SPEC], {"get_weather": get_weather, "typo": print})
    with pytest.raises(ConfigError, match="only type 'function'"):
        tools_from_openai_specs([{"type": "web_search"}], {})
    with pytest.raises(ConfigError, match="tool 'bad': its parameters are not a valid JSON Schema"):
        JsonSchemaTool(
            name="bad", description="", parameters={"type": "object", "required": 3}, fn=print
        )
    with pytest.raises(ConfigError, match="must describe an object"):
        JsonSchemaTool(name="bad", description="", parameters={"type": "string"}, fn=print)


def test_extras_beside_a_union_name_the_field_once() -> None:
    schema = union_with_shared_property()
    tool = JsonSchemaTool(name="t", description="d", parameters=schema, fn=_noop)
    assert tool.validate({"kind": "b", "y": "s"}) == {"kind": "b", "y": "s"}
    assert rejected(tool, {"kind": "a", "x": 1, "z": 2}) == {
        "z": "unexpected field: this tool does not take it (fields allowed here: kind, x, y)"
    }
    assert rejected(tool, {"kind": "a", "y": "s"}) == {
        "y": "unexpected field: not taken together with the fields given "
        "(fields declared here: kind, x, y)"
    }
    assert rejected(tool, {"kind": "c"}) == {"kind": 'expected one of "a", "b" (given: "c")'}
