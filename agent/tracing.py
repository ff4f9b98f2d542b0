"""OpenTelemetry spans of a run, after the GenAI semantic conventions.

    invoke_agent agent-runtime      one per run (gen_ai.conversation.id: the thread)
      chat <model>                  one per LLM call: request model, token usage, finish reasons
      execute_tool <name>           one per tool call: tool name and call id; error status when
                                    the call went back to the model as an error

The spans go to whatever tracer provider the process has: from Python, set your own
(``opentelemetry.trace.set_tracer_provider``); ``agent`` commands set one up from the standard
variables when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_TRACES_EXPORTER`` is set
(``configure_from_env``; needs ``pip install 'agent-runtime[otel]'``). Without a provider the
API hands out non-recording spans: a few attribute writes into nothing per call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

_TRACER = trace.get_tracer("agent-runtime")
AGENT_NAME = "agent-runtime"


@contextmanager
def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any) -> Iterator[Span]:
    """A span around the block, current inside it; ``attributes`` with dots spelled as ``__``
    (``gen_ai__operation__name``), ``None`` ones left out. An exception sets error status."""
    attrs = {k.replace("__", "."): v for k, v in attributes.items() if v is not None}
    with _TRACER.start_as_current_span(name, kind=kind, attributes=attrs) as current:
        yield current


def mark_error(current: Span, description: str) -> None:
    """An outcome that is an error without an exception (a refused tool call)."""
    current.set_status(trace.Status(trace.StatusCode.ERROR, description[:200]))


def configure_from_env() -> bool:
    """Export spans over OTLP when the standard variables ask for it; True when set up."""
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if exporter == "none" or not (exporter or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return False
    service = os.environ.get("OTEL_SERVICE_NAME", AGENT_NAME)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


__all__ = ["AGENT_NAME", "configure_from_env", "mark_error", "span"]
