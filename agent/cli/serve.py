"""``agent serve``: the agent as an OpenAI-compatible HTTP service."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from agent.cli._common import (
    BaseUrlOption,
    DataDirOption,
    ModelOption,
    exit_on_agent_error,
    load_settings,
)


def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8080,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the agent over HTTP until stopped (Ctrl-C / SIGTERM).

    Any OpenAI client talks to it: POST /v1/chat/completions (streaming or not; the agent's
    answer is the assistant message, tool steps come as extra chunks), GET /v1/models. Threads:
    pass thread_id in the body (openai: extra_body={"thread_id": "t1"}) or an X-Agent-Thread-Id
    header to continue one; every response names its thread. POST /threads/ID/runs streams a
    run's events; GET /threads/ID returns the history; GET /healthz and /readyz for probes.

    [bold]Examples[/]

      agent serve --port 8080

      AGENT_SERVE_TOKEN=secret AGENT_CHECKPOINT_URL=postgresql://agent@db/agent \\
        agent serve --host 0.0.0.0        # one of N replicas behind a balancer

      curl -s localhost:8080/v1/chat/completions \\
        -H 'content-type: application/json' \\
        -d '{"model": "agent",
             "messages": [{"role": "user", "content": "What is 17*23?"}]}'

    Binding an address other than loopback needs AGENT_SERVE_TOKEN: every request but /healthz
    must then carry `Authorization: Bearer <token>`. Host and Origin headers are checked against
    loopback, the bound address and AGENT_SERVE_ALLOWED_HOSTS.
    """
    from agent.server import guard_for
    from agent.server import serve as run_server

    err = Console(stderr=True)
    with exit_on_agent_error(err):
        settings = load_settings(base_url=base_url, model=model, data_dir=data_dir)
        guard = guard_for(settings, host)
        threads = "PostgreSQL" if settings.checkpoint_url is not None else str(settings.threads_db)
        err.print(
            f"agent on http://{host}:{port}/v1 (model {settings.llm_model} at "
            f"{settings.llm_base_url}; threads: {threads}); {guard.describe()}",
            highlight=False,
            markup=False,
        )
        run_server(settings, host=host, port=port)
