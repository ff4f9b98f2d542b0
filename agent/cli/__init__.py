"""The ``agent`` command: a thin layer over the Python API (``agent.api``).

Each sub-command group lives in its own module here and is registered below.
"""

from __future__ import annotations

import inspect

import typer

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


def reflowed(doc: str | None) -> str | None:
    """A docstring as ``--help`` shows it: the lines of a prose paragraph joined, so the
    terminal wraps them at its width (Typer keeps each line break, and at 80 columns a line
    written for 100 broke in two); a paragraph with indented lines (examples, a list) as
    written."""
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(
        p
        if any(line[:1].isspace() for line in p.splitlines())
        else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def _finish_help(group: typer.Typer) -> None:
    """Every command's ``--help``: prose that wraps at the terminal's width, and the one
    exit-code table at the end."""
    group.info.epilog = group.info.epilog or EXIT_CODES_HELP
    for command in group.registered_commands:
        command.epilog = command.epilog or EXIT_CODES_HELP
        if command.help is None and command.callback is not None:
            command.help = reflowed(command.callback.__doc__)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _finish_help(sub.typer_instance)


_finish_help(app)


def main() -> None:
    from agent.tracing import configure_from_env

    configure_from_env()  # spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT / ..._EXPORTER say so
    app()
