"""Tools: what the model may call, how its arguments are validated, and the errors it gets back.

A tool is a pydantic ``*Args`` model plus an async function (``FunctionTool``, or ``@tool``), or a
JSON Schema plus a function (``JsonSchemaTool``, as MCP servers and OpenAI specs give them). Both
validate strictly (undeclared keys rejected, numbers-in-strings coerced and nothing else) and
send the model ``strict_schema`` of their schema; a bad call becomes a ``ToolArgumentsError``
whose ``FieldError`` s name each field by path.
"""

from agent.tooling.schema_tool import JsonSchemaTool, tools_from_openai_specs
from agent.tooling.strict_schema import close_schema, strict_schema, validation_schema
from agent.tooling.tool import (
    ArgumentsDecodeError,
    FieldError,
    FunctionTool,
    Sourced,
    Tool,
    ToolArgumentsError,
    ToolOutput,
    ToolRegistry,
    decode_arguments,
    format_path,
    parse_arguments,
    pydantic_field_errors,
    render_output,
    tool,
)

__all__ = [
    "ArgumentsDecodeError",
    "FieldError",
    "FunctionTool",
    "JsonSchemaTool",
    "Sourced",
    "Tool",
    "ToolArgumentsError",
    "ToolOutput",
    "ToolRegistry",
    "close_schema",
    "decode_arguments",
    "format_path",
    "parse_arguments",
    "pydantic_field_errors",
    "render_output",
    "strict_schema",
    "tool",
    "tools_from_openai_specs",
    "validation_schema",
]
