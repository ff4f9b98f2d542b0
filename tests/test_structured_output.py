"""``output_type``: the answer as a validated value, through the scripted server at the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agent import Agent, Approval, FinalEvent, OutputValidationError, RunError, Settings
from agent.errors import ConfigError
from agent.testing import ScriptedServer, call, reply
from tools.calculator import make_calculator_tool


class Purchase(BaseModel):
    item: str
    count: int = Field(ge=0)


def calculator() -> list[Any]:
    return [make_calculator_tool()]


def test_a_text_answer_becomes_the_type_through_guided_json(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(
        call("calculator", expression="3 * 4"),
        reply("She bought 12 apples."),
        reply('{"item": "apples", "count": 12}'),
    )
    with Agent(settings, tools=calculator()) as agent:
        result = agent.run("3 bags of 4 apples: how many?", output_type=Purchase)
    scripted_llm.assert_done()
    assert isinstance(result.output, Purchase)
    assert result.output == Purchase(item="apples", count=12)
    assert result.answer == "She bought 12 apples."
    assert result.steps == 3
    last = scripted_llm.requests[-1]
    assert last["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "Purchase",
            "schema": Purchase.model_json_schema(),
            "strict": True,
        },
    }
    assert "tools" not in last  # the output call has tools off
    assert "JSON Schema" in last["messages"][-1]["content"]
    # the thread keeps the conversation, not the output request
    assert [m.type for m in result.messages] == ["human", "ai", "tool", "ai"]


def test_an_answer_that_already_is_valid_json_costs_no_extra_call(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply('Here it is:\n```json\n{"item": "pears", "count": 2}\n```'))
    with Agent(settings, tools=calculator()) as agent:
        result = agent.run("Two pears.", output_type=Purchase)
    scripted_llm.assert_done()
    assert result.output == Purchase(item="pears", count=2)
    assert len(scripted_llm.requests) == 1


def test_an_invalid_output_goes_back_with_the_field_errors(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(
        reply("Five plums."),
        reply('{"item": "plums", "count": -5}'),
        reply('{"item": "plums", "count": 5}'),
    )
    with Agent(settings, tools=calculator()) as agent:
        result = agent.run("Five plums.", output_type=Purchase)
    scripted_llm.assert_done()
    assert result.output.count == 5
    feedback = scripted_llm.requests[2]["messages"][-1]["content"]
    assert "count" in feedback and "greater than or equal to 0" in feedback
    assert scripted_llm.requests[2]["messages"][-2]["content"] == '{"item": "plums", "count": -5}'


def test_an_output_that_never_validates_is_a_clear_error(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("no idea"), reply("not json"), reply('{"item": "x"}'))
    strict = settings.model_copy(update={"max_repairs": 1})
    with Agent(strict, tools=calculator()) as agent, pytest.raises(OutputValidationError) as info:
        agent.run("?", output_type=Purchase, thread_id="t-out")
    scripted_llm.assert_done()
    assert "output_type 'Purchase'" in str(info.value) and "AGENT_MAX_REPAIRS=1" in str(info.value)
    assert info.value.errors == ["- count: required field is missing"]
    assert info.value.thread_id == "t-out"


def test_required_mode_answers_through_final_answer_then_the_schema(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(
        call("final_answer", reasoning="3 + 4 = 7", answer="7 kiwis"),
        reply('{"item": "kiwis", "count": 7}'),
    )
    required = settings.model_copy(update={"tool_call_mode": "required"})
    with Agent(required, tools=calculator()) as agent:
        result = agent.run("3 kiwis and 4 kiwis?", output_type=Purchase)
    scripted_llm.assert_done()
    assert result.output == Purchase(item="kiwis", count=7)
    assert scripted_llm.requests[0]["tool_choice"] == "required"
    assert "7 kiwis" in json.dumps(scripted_llm.requests[1]["messages"])


def test_a_json_schema_and_a_plain_type_work_too(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    scripted_llm.push(
        reply("Paris has 2.1 million people."),
        reply('{"city": "Paris", "population": 2100000}'),
        reply("[1, 2, 3]"),
    )
    with Agent(settings, tools=calculator()) as agent:
        city = agent.run("Paris?", output_type=schema)
        numbers = agent.run("First three?", output_type=list[int])
    scripted_llm.assert_done()
    assert city.output == {"city": "Paris", "population": 2100000}
    assert numbers.output == [1, 2, 3]


def test_streaming_ends_with_the_typed_output(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("One fig."), reply('{"item": "fig", "count": 1}'))
    with Agent(settings, tools=calculator()) as agent:
        events = list(agent.stream("One fig?", output_type=Purchase))
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.result.output == Purchase(item="fig", count=1)


def test_a_run_waiting_for_approval_has_no_output_until_resumed(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"approve_tools": ["calculator"]})
    scripted_llm.push(call("calculator", expression="6 * 7"))
    with Agent(settings, tools=calculator()) as agent:
        paused = agent.run("6 bags of 7 limes?", thread_id="limes", output_type=Purchase)
    assert paused.pending
    with pytest.raises(RunError, match="wait for approval"):
        _ = paused.output
    scripted_llm.push(reply("42 limes."), reply('{"item": "limes", "count": 42}'))
    with Agent(settings, tools=calculator()) as agent:
        decisions = {c.call_id: Approval.approve() for c in paused.pending}
        done = agent.resume("limes", decisions=decisions, output_type=Purchase)
    scripted_llm.assert_done()
    assert done.output == Purchase(item="limes", count=42)


def test_a_type_pydantic_cannot_describe_is_refused_up_front(settings: Settings) -> None:
    class Opaque:
        pass

    with Agent(settings, tools=calculator()) as agent, pytest.raises(ConfigError, match="Opaque"):
        agent.run("?", output_type=Opaque)
    with Agent(settings, tools=calculator()) as agent, pytest.raises(ConfigError, match="Schema"):
        agent.run("?", output_type={"type": "object", "properties": {"a": {"type": "nope"}}})
