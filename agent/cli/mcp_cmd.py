"""``agent mcp serve``: our error-lookup MCP server over stdio or streamable HTTP."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from agent.cli._common import exit_on_agent_error
from agent.settings import Settings

mcp_app = typer.Typer(
    name="mcp",
    help=(
        "The MCP server of the known-error KB: tools lookup_error and triage, entries as "
        "resources kb://errors/{id}.\n\n"
        "  agent mcp serve                                  (stdio, for MCP clients)\n\n"
        "  agent mcp serve --transport http --port 8765     (http://127.0.0.1:8765/mcp)"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)


class TransportChoice(StrEnum):
    stdio = "stdio"
    http = "http"


@mcp_app.command()
def serve(
    transport: Annotated[
        TransportChoice,
        typer.Option(
            help="stdio (the client starts this process) or http (streamable HTTP at /mcp)",
            case_sensitive=False,
        ),
    ] = TransportChoice.stdio,
    host: Annotated[str, typer.Option(help="HTTP: address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP: port")] = 8765,
) -> None:
    """Serve the known-error KB over MCP until stopped.

    Over HTTP, Host and Origin headers are checked against an allow-list (loopback, the bound
    address, AGENT_MCP_ALLOWED_HOSTS). Binding an address other than loopback needs
    AGENT_MCP_HTTP_TOKEN: every request must then carry `Authorization: Bearer <token>`.
    """
    from agent.mcp.http_guard import HttpGuard
    from agent.mcp.server import serve as run_server

    with exit_on_agent_error(Console(stderr=True)):
        settings = Settings.load()
        guard = None
        if transport == TransportChoice.http:
            guard = HttpGuard.for_bind(host, settings.mcp_http_token, settings.mcp_allowed_hosts)
            Console(stderr=True).print(
                f"MCP server on http://{host}:{port}/mcp (known errors: "
                f"{settings.errors_store_uri}); {guard.describe()}",
                highlight=False,
                markup=False,
            )
        run_server(settings, transport=transport.value, host=host, port=port, guard=guard)
