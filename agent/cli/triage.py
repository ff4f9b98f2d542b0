"""``agent triage FILE`` / ``... | agent triage -``: known errors, cause, fix and citations."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agent.cli._common import (
    BaseUrlOption,
    ModelOption,
    ModeOption,
    exit_on_agent_error,
    load_settings,
)
from agent.cli.exit_codes import ExitCode
from agent.known_errors.lookup import ErrorIndex
from agent.triage import TriageReport, triage_log
from tools.lookup_error import make_local_lookup_error_tool

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        err.print(f"[bold red]error:[/] cannot read {escape(source)}: {escape(str(exc))}")
        raise typer.Exit(ExitCode.USAGE) from None


def _print_report(report: TriageReport) -> None:
    if report.matches:
        out.print("[bold]Matched known errors[/]")
        for rank, m in enumerate(report.matches, start=1):
            out.print(
                f"{rank}. [bold cyan]{m.id}[/]  [dim](score {m.score:.4f}; matched by "
                f"{', '.join(m.matched_by)})[/]",
                highlight=False,
            )
            out.print(f"   {escape(m.title)}", highlight=False)
    else:
        out.print("No known error matches.")
    out.print(f"[dim](read {report.lines_in} lines, used {report.lines_used})[/]")
    if report.answer is not None:
        out.print()
        if report.cause:
            out.print(f"[bold]Cause:[/] {escape(report.cause)}")
        if report.fix:
            out.print(f"[bold]Fix:[/] {escape(report.fix)}")
        if not (report.cause and report.fix):
            out.print(escape(report.answer))
        cited = ", ".join(report.cited_ids) if report.cited_ids else "none"
        out.print(f"[bold]Citations:[/] {escape(cited)}")
    elif report.matches:
        best = report.matches[0]
        out.print()
        out.print(f"[bold]Cause[/] (from {best.id}): {escape(best.cause)}")
        out.print(f"[bold]Fix[/] (from {best.id}): {escape(best.fix)}")


def triage(
    file: Annotated[str, typer.Argument(help="log or stack-trace file; - reads stdin")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    no_llm: Annotated[
        bool, typer.Option("--no-llm", help="only the KB lookup: no LLM explanation")
    ] = False,
    top_k: Annotated[int, typer.Option(min=1, max=20, help="known errors to show")] = 3,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    mode: ModeOption = None,
) -> None:
    """Find the known errors in a log or stack trace and explain the cause and the fix.

    Matched known errors come from the KB (signature, BM25 and dense search); the explanation
    comes from the agent, which cites the KB ids it used. If the LLM is unreachable, the
    matches and their KB cause and fix are still printed.
    """
    text = _read(file)
    if not text.strip():
        err.print("[bold red]error:[/] the input is empty: give a log, stack trace or message")
        raise typer.Exit(ExitCode.USAGE)
    with exit_on_agent_error(err):
        settings = load_settings(base_url=base_url, model=model, mode=mode)
        with ErrorIndex.open(settings) as index:
            report = asyncio.run(
                triage_log(
                    text,
                    settings=settings,
                    lookup=lambda t, k: index.alookup(t, top_k=k),
                    known_ids=set(index.ids()),
                    lookup_tool=None if no_llm else make_local_lookup_error_tool(index),
                    top_k=top_k,
                )
            )
    if as_json:
        out.print(report.model_dump_json(indent=2), markup=False, highlight=False)
    else:
        _print_report(report)
    if report.llm_error:
        err.print(
            f"[yellow]warning: no explanation from the LLM ({escape(report.llm_error)}); "
            "showing the KB's cause and fix[/]"
        )
