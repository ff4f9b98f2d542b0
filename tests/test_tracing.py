"""The run's OpenTelemetry spans, after the GenAI semantic conventions, caught by the SDK's
in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agent import Agent, Settings
from agent.testing import Response, ScriptedServer, call
from tests.test_api import make_tools

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the process's provider can be set once
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    yield _EXPORTER


async def test_a_run_is_one_span_with_its_llm_and_tool_calls_inside(
    spans: InMemorySpanExporter, scripted_llm: ScriptedServer, settings: Settings
) -> None:
    spans.clear()
    scripted_llm.push(call("add", a=2, b=3), Response(content="5"))
    async with Agent(settings, tools=make_tools()) as agent:
        await agent.arun("2+3?", thread_id="traced")
    finished: list[ReadableSpan] = list(spans.get_finished_spans())
    by_op = {}
    for s in finished:
        by_op.setdefault(s.attributes["gen_ai.operation.name"], []).append(s)
    [run] = by_op["invoke_agent"]
    chats = by_op["chat"]
    [tool] = by_op["execute_tool"]
    assert len(chats) == 2
    assert run.parent is None and run.attributes["gen_ai.conversation.id"] == "traced"
    for child in [*chats, tool]:  # both kinds inside the run's trace, under its span
        assert child.context.trace_id == run.context.trace_id
    chat = chats[0]
    assert chat.name == "chat scripted-model" and chat.kind == SpanKind.CLIENT
    assert chat.attributes["gen_ai.request.model"] == "scripted-model"
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0
    assert chat.attributes["gen_ai.usage.output_tokens"] > 0
    assert tool.name == "execute_tool add"
    assert tool.attributes["gen_ai.tool.name"] == "add"
    assert tool.attributes["gen_ai.tool.call.id"]
    assert tool.status.status_code != StatusCode.ERROR
    scripted_llm.assert_done()


async def test_a_refused_tool_call_is_an_error_span(
    spans: InMemorySpanExporter, scripted_llm: ScriptedServer, settings: Settings
) -> None:
    spans.clear()
    scripted_llm.push(call("calculator", expression="1/0"), Response(content="undefined"))
    async with Agent(settings, tools=make_tools()) as agent:
        await agent.arun("1/0?")
    [tool] = [s for s in spans.get_finished_spans() if s.name == "execute_tool calculator"]
    assert tool.status.status_code == StatusCode.ERROR
    scripted_llm.assert_done()
