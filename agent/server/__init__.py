"""``agent serve``: the agent as an OpenAI-compatible HTTP service (``agent.server.app``).

    from agent.server import serve
    serve(Settings.load(), host="127.0.0.1", port=8080)     # until SIGINT / SIGTERM

``create_app(agent, guard=...)`` gives the ASGI app itself, for any ASGI server.
"""

from __future__ import annotations

import gc

import uvicorn

from agent.api import Agent
from agent.server.app import THREAD_HEADER, create_app, guard_for
from agent.server.wire import MODEL_ID
from agent.settings import Settings


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve one ``Agent`` over HTTP until stopped. Refuses a non-loopback ``host`` without
    ``AGENT_SERVE_TOKEN`` (``ConfigError``)."""
    guard = guard_for(settings, host)
    tune_gc(settings.serve_gc_threshold)
    agent = Agent(settings)
    try:
        app = create_app(agent, guard=guard, max_body_bytes=settings.serve_max_body_bytes)
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
    finally:
        agent.close()


def tune_gc(threshold: int) -> None:
    """Python's collector for a long-running server: the young generation collected every
    ``threshold`` allocations (0 keeps Python's setting).

    Python passes over every tracked object once per 100 young passes; with the default 700,
    in a process running 64 agent runs at once, that is much of its CPU
    (``bench/loop_overhead.py --gc-threshold 10000``: 52 -> 72 runs/s at 64 concurrent, CPU
    per LLM call 3.35 -> 2.12 ms; through ``bench/serve_load.py`` the gain was within the
    noise). The garbage it leaves waiting is at most ``threshold`` young objects. Every agent
    also freezes the start-up heap at its first run (``AGENT_GC_FREEZE``), which is what
    makes the full passes cheap; this makes them rarer."""
    if threshold:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(threshold, older, oldest)


__all__ = ["MODEL_ID", "THREAD_HEADER", "create_app", "guard_for", "serve", "tune_gc"]
