"""Testing without a GPU: ``ScriptedServer`` fakes the LLM at the wire, and only there.

It is a real OpenAI-compatible HTTP server on 127.0.0.1 that replays a script of responses
(``reply``, ``call``, ``calls``, ``error``), records every request, and fails a test on an
unexpected extra call or on leftover steps. Point ``AGENT_LLM_BASE_URL`` at ``server.url``.
``python -m agent.testing.scripted_server --loop-steps N`` serves the benchmarks.
"""

from agent.testing.scripted_server import (
    Response,
    ScriptedServer,
    call,
    calls,
    error,
    loop_responder,
    prompt_tokens,
    reply,
    schema_instance,
    spawn_loop_server,
)

__all__ = [
    "Response",
    "ScriptedServer",
    "call",
    "calls",
    "error",
    "loop_responder",
    "prompt_tokens",
    "reply",
    "schema_instance",
    "spawn_loop_server",
]
