"""``agent serve``: the agent as an OpenAI-compatible HTTP service (``agent.server.app``).

    from agent.server import serve
    serve(Settings.load(), host="127.0.0.1", port=8080)     # until SIGINT / SIGTERM

``create_app(agent, guard=...)`` gives the ASGI app itself, for any ASGI server.
"""

from __future__ import annotations

import uvicorn

from agent.api import Agent
from agent.server.app import THREAD_HEADER, create_app, guard_for
from agent.server.wire import MODEL_ID
from agent.settings import Settings


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve one ``Agent`` over HTTP until stopped. Refuses a non-loopback ``host`` without
    ``AGENT_SERVE_TOKEN`` (``ConfigError``)."""
    guard = guard_for(settings, host)
    agent = Agent(settings)
    try:
        app = create_app(agent, guard=guard, max_body_bytes=settings.serve_max_body_bytes)
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
    finally:
        agent.close()


__all__ = ["MODEL_ID", "THREAD_HEADER", "create_app", "guard_for", "serve"]
