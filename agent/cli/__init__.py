"""The ``agent`` command: a thin layer over the Python API (``agent.api``).

Each sub-command group lives in its own module here and is registered below.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="agent",
    help=(
        "A tool-calling agent for open models served by vLLM.\n\n"
        "Examples:\n\n"
        "  agent ask \"What is (1234 + 5678) / 2?\"\n\n"
        "  agent chat\n\n"
        "Settings come from flags, AGENT_* environment variables, or a .env file "
        "(e.g. AGENT_LLM_BASE_URL=http://gpu-box:8000/v1)."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def main() -> None:
    app()
