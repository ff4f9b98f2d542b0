"""What a tool is to the runtime: a name, a schema the LLM sees, a validator, an async call.

Two kinds share this interface:

* ``FunctionTool``: a hand-written pydantic ``*Args`` model (``extra="forbid"``) plus an async
function taking that model; this is how every built-in tool in ``tools/`` is made.
* JSON-Schema tools (OpenAI-style specs, MCP tools): see ``agent.tooling.schema_tool``.

Validation never raises to the caller: it raises ``ToolArgumentsError``, which the runtime turns
into a tool message listing each offending field by path, so the model can repair its call.

Coercion policy (the same for both kinds): arguments may arrive as a JSON object or as a string
holding one (decoded once); a number or integer field accepts a string that spells a number (``"3"``
for an integer, ``"2.5"`` for a number), never the reverse; an integer field also takes a number
with no fractional part (``3.0`` -> ``3``, as JSON Schema counts it an integer); nothing else is
coerced (not ``"true"`` to a boolean, not ``true`` to a number), and keys the schema does not
declare are rejected. Both kinds apply it through ``agent.tooling._coercion`` (pydantic validates in
strict mode after it), and send the LLM ``agent.tooling.strict_schema.strict_schema`` of their
schema.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, get_type_hints, overload

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ValidationError

from agent.errors import ConfigError
from agent.text import clip
from agent.tooling._coercion import coerce_numbers, new_validator
from agent.tooling.strict_schema import strict_schema

ArgsT = TypeVar("ArgsT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one argument. ``path`` is like ``filters[2].op``; empty for the root."""

    path: str
    message: str

    def render(self) -> str:
        return f"- {self.path or '(arguments)'}: {self.message}"


class ToolArgumentsError(Exception):
    """Arguments failed validation. Model-facing: never raised to the caller of the agent."""

    def __init__(self, tool_name: str, errors: Sequence[FieldError]) -> None:
        super().__init__(tool_name, errors)
        self.tool_name = tool_name
        self.errors = list(errors)

    def __str__(self) -> str:
        lines = "\n".join(e.render() for e in self.errors)
        return f"Invalid arguments for tool '{self.tool_name}':\n{lines}"


def format_path(loc: Iterable[str | int]) -> str:
    """``("filters", 2, "op")`` -> ``filters[2].op``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class ArgumentsDecodeError(ValueError):
    """Tool-call arguments that do not decode to a JSON object; the message is for the model."""


def parse_arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The one decoder of tool-call arguments: a JSON object, or a JSON string holding one (as
    some models send); nothing or ``""`` is ``{}``. Raises ``ArgumentsDecodeError``."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        raise ArgumentsDecodeError(f"arguments must be a JSON object, got {type(raw).__name__}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ArgumentsDecodeError(
            f"arguments are not valid JSON ({exc.msg} at char {exc.pos}): {clip(raw, 201)}"
        ) from None
    if isinstance(value, str):
        return parse_arguments(value)
    if not isinstance(value, dict):
        raise ArgumentsDecodeError(f"arguments must be a JSON object, got {type(value).__name__}")
    return value


def decode_arguments(tool_name: str, raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """``parse_arguments``, its error as the ``ToolArgumentsError`` the model gets back."""
    try:
        return parse_arguments(raw)
    except ArgumentsDecodeError as exc:
        raise ToolArgumentsError(tool_name, [FieldError("", str(exc))]) from None


def pydantic_field_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic's errors as ``FieldError`` s, each naming what was expected and what was given."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        path = format_path(err["loc"])
        if err["type"] == "missing":
            out.append(FieldError(path, "required field is missing"))
        elif err["type"] == "extra_forbidden":
            out.append(FieldError(path, "unexpected field: this tool does not take it"))
        else:
            given = clip(json.dumps(err.get("input"), default=repr), 201)
            out.append(FieldError(path, f"{err['msg']} (given: {given})"))
    return out


@dataclass(frozen=True, slots=True)
class Sourced:
    """A tool's text output with the documents it was drawn from: the model reads ``text``;
    the run's result lists ``sources`` (``RunResult.sources``), whether or not the model
    names them (a small model rarely does)."""

    text: str
    sources: tuple[str, ...] = ()

    def mark(self, message: BaseMessage) -> None:
        """Keep the sources on the tool message that carries ``text`` (checkpointed with it)."""
        if self.sources:
            message.response_metadata[_SOURCES] = list(self.sources)

    @staticmethod
    def of(message: BaseMessage) -> list[str]:
        """The sources ``mark`` kept on ``message``, if any."""
        return [str(s) for s in message.response_metadata.get(_SOURCES, ())]


_SOURCES = "sources"  # the tool message's response_metadata key


ToolOutput = str | int | float | bool | dict[str, Any] | list[Any] | BaseModel | Sourced | None


def render_output(value: ToolOutput) -> str:
    """The text of a tool message for a tool's return value."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sourced):
        return value.text
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, ensure_ascii=False, default=str)


class Tool(ABC):
    """A tool the runtime can offer to the model, validate calls for, and run."""

    name: str
    description: str
    timeout_s: float | None
    # The output comes from outside (documents, a KB, another server): the runtime frames it
    # as data (``agent.text.frame_untrusted``) before the model sees it.
    untrusted_output: bool = False
    # A person must approve each call before it runs (``Agent.resume(decisions=...)``, or an
    # ``approve`` hook in-process).
    needs_approval: bool = False
    # The same arguments give the same result within a run (arithmetic, a search of documents
    # that do not change under it): a call the run already has the result of is not run again;
    # the model is pointed at that result. Leave it off for anything that polls or changes.
    deterministic: bool = False

    @abstractmethod
    def parameters_schema(self) -> dict[str, Any]:
        """The JSON Schema of the arguments, as sent to the LLM."""

    @abstractmethod
    def validate(self, arguments: dict[str, Any]) -> Any:
        """Check decoded arguments; return what ``ainvoke`` takes, or raise ToolArgumentsError."""

    @abstractmethod
    async def ainvoke(self, validated: Any) -> ToolOutput:
        """Run the tool on validated arguments. Raise ``ToolError`` for input it refuses."""

    def openai_spec(self) -> dict[str, Any]:
        # strict: vLLM's structural-tag tool calling pins the arguments to the schema only for
        # tools marked strict; without it, measured on the local model, guided decoding let the
        # model add keys copied from the schema ("type": "string") to its arguments.
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters_schema(),
                "strict": True,
            },
        }


class FunctionTool(Tool, Generic[ArgsT]):
    """A pydantic ``*Args`` model plus the async function that does the work."""

    def __init__(
        self,
        fn: Callable[[ArgsT], Awaitable[ToolOutput]],
        args_model: type[ArgsT],
        *,
        name: str,
        description: str,
        timeout_s: float | None = 30.0,
        untrusted_output: bool = False,
        needs_approval: bool = False,
        deterministic: bool = False,
    ) -> None:
        schema = args_model.model_json_schema()
        open_models = _models_allowing_extra(schema)
        if open_models:
            raise ConfigError(
                f"tool '{name}': {', '.join(open_models)} must set "
                "model_config = ConfigDict(extra='forbid') so unexpected keys are rejected"
            )
        self.fn = fn
        self.args_model = args_model
        self.name = name
        self.description = description
        self.timeout_s = timeout_s
        self.untrusted_output = untrusted_output
        self.needs_approval = needs_approval
        self.deterministic = deterministic
        self._schema = strict_schema(schema)
        self._coercer = new_validator(schema)

    def parameters_schema(self) -> dict[str, Any]:
        return self._schema

    def validate(self, arguments: dict[str, Any]) -> ArgsT:
        arguments = coerce_numbers(self._coercer, arguments)
        try:  # strict JSON mode: the coercion policy, not pydantic's lax mode, decides
            return self.args_model.model_validate_json(json.dumps(arguments), strict=True)
        except ValidationError as exc:
            raise ToolArgumentsError(self.name, pydantic_field_errors(exc)) from None

    async def ainvoke(self, validated: ArgsT) -> ToolOutput:
        return await self.fn(validated)


@overload
def tool(fn: Callable[[ArgsT], Awaitable[ToolOutput]], /) -> FunctionTool[ArgsT]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = 30.0,
    needs_approval: bool = False,
) -> Callable[[Callable[[ArgsT], Awaitable[ToolOutput]]], FunctionTool[ArgsT]]: ...


def tool(
    fn: Callable[[ArgsT], Awaitable[ToolOutput]] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = 30.0,
    needs_approval: bool = False,
) -> (
    FunctionTool[ArgsT] | Callable[[Callable[[ArgsT], Awaitable[ToolOutput]]], FunctionTool[ArgsT]]
):
    """A ``FunctionTool`` from an async function taking one pydantic ``*Args`` model::

        @tool
        async def weather(args: WeatherArgs) -> dict[str, object]:
            \"\"\"Current weather for a city.\"\"\"

    The name is the function's, the description its docstring, the args model the annotation of
    its one parameter; each can be given instead (``@tool(name=..., description=...)``).
    ``@tool(needs_approval=True)``: a person approves each call before it runs.
    """

    def make(fn: Callable[[ArgsT], Awaitable[ToolOutput]]) -> FunctionTool[ArgsT]:
        tool_name = name or fn.__name__
        params = list(inspect.signature(fn).parameters.values())
        hints = get_type_hints(fn)
        args_model = hints.get(params[0].name) if len(params) == 1 else None
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise ConfigError(
                f"tool '{tool_name}': the function must take exactly one parameter annotated "
                "with a pydantic model (async def f(args: MyArgs) -> ...)"
            )
        text = description or inspect.getdoc(fn)
        if not text:
            raise ConfigError(f"tool '{tool_name}': give a docstring or description= for the model")
        return FunctionTool(
            fn,
            cast(type[ArgsT], args_model),
            name=tool_name,
            description=text,
            timeout_s=timeout_s,
            needs_approval=needs_approval,
        )

    return make if fn is None else make(fn)


def _models_allowing_extra(schema: dict[str, Any]) -> list[str]:
    """Titles of the object schemas (root and nested models) that do not forbid extra keys."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                found.append(str(node.get("title", "a nested model")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


class ToolRegistry:
    """An explicit, ordered set of tools. A duplicate name is a ``ConfigError`` at start-up."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ConfigError(
                f"two tools are named '{tool.name}': tool names must be unique; rename one"
            )
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __iter__(self) -> Any:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def openai_specs(self) -> list[dict[str, Any]]:
        return [t.openai_spec() for t in self._tools.values()]
