"""The ``agent`` command: a thin layer over the Python API (``agent.api``).

Each sub-command group lives in its own module here and is registered below.
"""

from __future__ import annotations

import typer

from agent.cli._help import finish_help
from agent.cli.ask import ask
from agent.cli.chat import chat
from agent.cli.docs import docs_app, warn_kb_is_deprecated
from agent.cli.doctor import doctor
from agent.cli.errors_cmd import errors_app
from agent.cli.exit_codes import EXIT_CODES_HELP
from agent.cli.llm import llm_app
from agent.cli.mcp_cmd import mcp_app
from agent.cli.serve import serve
from agent.cli.triage import triage

__all__ = ["app", "main"]

app = typer.Typer(
    name="agent",
    help=(
        "A tool-calling agent for open models served by vLLM.\n\n"
        "Examples:\n\n"
        '  agent ask "What is (1234 + 5678) / 2?"\n\n'
        "  agent chat\n\n"
        "Settings come from flags, AGENT_* environment variables, or a .env file "
        "(e.g. AGENT_LLM_BASE_URL=http://gpu-box:8000/v1)."
    ),
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.command()(ask)
app.command()(chat)
app.add_typer(llm_app)
app.add_typer(docs_app)
app.add_typer(docs_app, name="kb", hidden=True, callback=warn_kb_is_deprecated)  # old name
app.command()(doctor)
app.add_typer(errors_app)
app.add_typer(mcp_app)
app.command()(triage)
app.command()(serve)


finish_help(app)


def main() -> None:
    from agent.tracing import configure_from_env

    configure_from_env()  # spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT / ..._EXPORTER say so
    app()
