from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from agent.errors import ConfigError
from agent.tooling import (
    FunctionTool,
    ToolArgumentsError,
    ToolRegistry,
    decode_arguments,
    format_path,
)


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: str


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filters: list[Inner]


class LaxArgs(BaseModel):
    x: int


async def noop(args: Args) -> str:
    return "ok"


def test_duplicate_tool_names_fail_at_start_up() -> None:
    tool = FunctionTool(noop, Args, name="t", description="d")
    with pytest.raises(ConfigError, match="two tools are named 't'"):
        ToolRegistry([tool, tool])


def test_args_model_must_forbid_extra_keys() -> None:
    async def lax(args: LaxArgs) -> str:
        return ""

    with pytest.raises(ConfigError, match="extra='forbid'"):
        FunctionTool(lax, LaxArgs, name="lax", description="d")


def test_nested_models_must_forbid_extra_keys_too() -> None:
    class LaxInner(BaseModel):
        op: str

    class Outer(BaseModel):
        model_config = ConfigDict(extra="forbid")
        filters: list[LaxInner]

    async def outer(args: Outer) -> str:
        return ""

    with pytest.raises(ConfigError, match="LaxInner must set"):
        FunctionTool(outer, Outer, name="outer", description="d")


def test_nested_error_is_named_by_path() -> None:
    tool = FunctionTool(noop, Args, name="t", description="d")
    with pytest.raises(ToolArgumentsError) as info:
        tool.validate({"filters": [{"op": "eq"}, {"op": "eq"}, {"op": 3, "x": 1}]})
    text = str(info.value)
    assert "- filters[2].op: " in text and "given: 3" in text
    assert "- filters[2].x: unexpected field" in text


def test_decode_arguments() -> None:
    assert decode_arguments("t", '{"a": 1}') == {"a": 1}
    assert decode_arguments("t", '"{\\"a\\": 1}"') == {"a": 1}  # JSON inside a JSON string
    assert decode_arguments("t", None) == {}
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        decode_arguments("t", "{a: 1}")
    with pytest.raises(ToolArgumentsError, match="must be a JSON object, got list"):
        decode_arguments("t", "[1]")


def test_format_path() -> None:
    assert format_path(("filters", 2, "op")) == "filters[2].op"
    assert format_path((0, "a")) == "[0].a"
    assert format_path(()) == ""
