"""What every command's ``--help`` gets: prose that wraps at the terminal's width, and the one
exit-code table at the end."""

from __future__ import annotations

import inspect

import typer

from agent.cli.exit_codes import EXIT_CODES_HELP


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


def finish_help(group: typer.Typer) -> None:
    """Every command's ``--help``: prose that wraps at the terminal's width, and the one
    exit-code table at the end."""
    group.info.epilog = group.info.epilog or EXIT_CODES_HELP
    for command in group.registered_commands:
        command.epilog = command.epilog or EXIT_CODES_HELP
        if command.help is None and command.callback is not None:
            command.help = reflowed(command.callback.__doc__)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            finish_help(sub.typer_instance)
