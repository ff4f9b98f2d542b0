"""JSON-Schema tools end to end: the agent loop, the scripted LLM server, a real MCP server.

A bad call goes back to the model as a tool message naming each field; the model's next call
is accepted and runs. The LLM is faked only at the wire.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from agent import Agent
from agent.settings import Settings
from agent.testing import ScriptedServer, call, reply
from agent.tooling import JsonSchemaTool, tools_from_openai_specs

WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "minimum": 1, "default": 1},
                },
                "required": ["city"],
            },
        },
    }
]


def tool_contents(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_seed_pattern_tools_and_function_map_bad_call_repaired(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    made: list[tuple[str, str, int, int]] = []

    def get_weather(city: str, units: str = "celsius", days: int = 1) -> str:
        made.append((city, units, days, threading.get_ident()))
        return f"{city}: 21 degrees {units} for {days} day(s)"

    scripted_llm.push(
        call("get_weather", city="Oslo", units="kelvin", country="NO"),
        call("get_weather", '{"city": "Oslo", "units": "celsius", "days": "2"}'),
        reply("It is 21 degrees in Oslo."),
    )
    tools = tools_from_openai_specs(WEATHER_TOOLS, {"get_weather": get_weather})
    with Agent(settings, tools=tools) as agent:
        result = agent.run("What's the weather in Oslo?")
    scripted_llm.assert_done()

    assert result.answer == "It is 21 degrees in Oslo."
    bad, good = result.tool_calls
    assert bad.is_error
    assert '- units: expected one of "celsius", "fahrenheit" (given: "kelvin")' in bad.content
    assert "- country: unexpected field: this tool does not take it" in bad.content
    assert not good.is_error
    assert good.content == "Oslo: 21 degrees celsius for 2 day(s)"
    assert [m[:3] for m in made] == [("Oslo", "celsius", 2)]  # the bad call never ran
    assert made[0][3] != threading.get_ident()  # a sync callable runs in a worker thread

    # the model saw the strict schema, and the field errors as the tool message
    sent = scripted_llm.requests[0]["tools"][0]["function"]
    assert sent["name"] == "get_weather"
    assert sent["parameters"]["additionalProperties"] is False
    assert tool_contents(scripted_llm.requests[1]) == [bad.content]


class Item(BaseModel):
    sku: str
    qty: int = Field(ge=1)


class Address(BaseModel):
    city: str
    zip: str


def inventory_server() -> MCPServer:
    server = MCPServer("inventory")

    @server.tool()
    def place_order(items: list[Item], ship_to: Address, note: str | None = None) -> str:
        """Place an order for delivery."""
        return f"{sum(i.qty for i in items)} item(s) to {ship_to.city} {ship_to.zip}"

    return server


async def test_mcp_tool_with_a_nested_schema_rejected_then_accepted(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    received: list[dict[str, Any]] = []
    async with Client(inventory_server()) as client:
        (listed,) = (await client.list_tools()).tools
        assert "additionalProperties" not in json.dumps(listed.input_schema)  # open as published

        async def place_order(**arguments: Any) -> str:
            received.append(arguments)
            result = await client.call_tool(listed.name, arguments)
            return "\n".join(getattr(c, "text", "") for c in result.content)

        tool = JsonSchemaTool(
            name=listed.name,
            description=listed.description or "",
            parameters=listed.input_schema,
            fn=place_order,
        )
        scripted_llm.push(
            call(
                "place_order",
                items=[{"sku": "A1", "qty": "0"}, {"sku": "B2", "colour": "red"}],
                ship_to={"city": "Oslo"},
            ),
            call(
                "place_order",
                items=[{"sku": "A1", "qty": "2"}, {"sku": "B2", "qty": 1}],
                ship_to={"city": "Oslo", "zip": "0150"},
            ),
            reply("Ordered 3 items."),
        )
        async with Agent(settings, tools=[tool]) as agent:
            result = await agent.arun("Order 2 of A1 and 1 of B2 to Oslo 0150.")
    scripted_llm.assert_done()

    bad, good = result.tool_calls
    assert bad.is_error
    assert bad.content.splitlines()[1:5] == [
        "- items[0].qty: expected a number >= 1 (given: 0)",
        "- items[1].qty: required field is missing",
        "- items[1].colour: unexpected field: this tool does not take it "
        "(fields allowed here: sku, qty)",
        "- ship_to.zip: required field is missing",
    ]
    assert good.content == "3 item(s) to Oslo 0150"
    assert received == [
        {
            "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}],
            "ship_to": {"city": "Oslo", "zip": "0150"},
            "note": None,
        }
    ]
    sent = scripted_llm.requests[0]["tools"][0]["function"]["parameters"]
    assert "$defs" not in sent
    assert sent["properties"]["items"]["items"]["additionalProperties"] is False
    assert result.answer == "Ordered 3 items."
