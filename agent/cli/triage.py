"""``agent triage FILE`` / ``... | agent triage -`` / ``agent triage "ERROR TEXT"``: known
errors, cause, fix and citations."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.console import Console
from rich.markup import escape

from agent.cli._common import (
    BaseUrlOption,
    ModelOption,
    exit_on_agent_error,
    load_settings,
    usage_error,
)
from agent.known_errors import MAX_TEXT_CHARS
from agent.tooling import format_path
from agent.triage import NO_MATCH, TriageReport, TriageRequest
from agent.triage import triage as run_triage

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _read(source: str) -> str:
    """The log's text: standard input for ``-``, a file's, or ``source`` itself when it is no
    file and reads as an error's text, not a file's name (``_pasted``).
    Bytes that are not UTF-8 become U+FFFD (old logs mix encodings); a NUL byte means the
    input is binary, not a log, and is refused."""
    name = "standard input" if source == "-" else source
    if not source.strip():
        raise usage_error(err, "the log is empty: give a log file, - or the error's text")
    if source != "-" and not os.path.exists(source) and _pasted(source):
        return source
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except FileNotFoundError:
        raise usage_error(
            err,
            f"no such file: {name} (give a log file, - to read standard input, or the error's "
            "text in quotes)",
        ) from None
    except OSError as exc:
        raise usage_error(err, f"cannot read {name}: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise usage_error(
            err,
            f"{name} is not text (it has NUL bytes): give a log or a stack trace, not a "
            "binary file",
        )
    return data.decode("utf-8", errors="replace")


_PATH_LIKE = re.compile(r"[/\\]|\.[A-Za-z0-9]{1,5}$")  # a folder, or a file's extension


def _pasted(source: str) -> bool:
    """Whether ``source``, which names no file, is an error's text: it has a space or a line
    break, or it is one word that does not look like a path (``Killed``,
    ``java.lang.OutOfMemoryError``; not ``crash.lgo`` or ``logs/x``, a mistyped file's)."""
    return any(c.isspace() for c in source.strip()) or not _PATH_LIKE.search(source)


def _request(log: str, *, top_k: int, llm: bool) -> TriageRequest:
    try:
        return TriageRequest(log=log, top_k=top_k, llm=llm)
    except ValidationError as exc:
        raise usage_error(err, _problem(exc.errors(include_url=False)[0])) from None


def _problem(error: ErrorDetails) -> str:
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] == "string_too_long":
        return (
            f"the input is longer than {MAX_TEXT_CHARS:,} characters: give the part of the log "
            "around the failure (e.g. | tail -n 5000)"
        )
    return f"{format_path(error['loc'])}: {error['msg']}"


def _print_report(report: TriageReport) -> None:
    if report.no_match:
        out.print(f"[bold]{escape(NO_MATCH)}[/]")
    if report.matches:
        out.print(
            "[bold]Nearest entries[/]" if report.no_match else "[bold]Matched known errors[/]"
        )
        for rank, m in enumerate(report.matches, start=1):
            ranked_by = "matched by" if m.id in report.evidence else "nearest by"
            out.print(
                f"{rank}. [bold cyan]{m.id}[/]  [dim](score {m.score:.4f}; {ranked_by} "
                f"{', '.join(m.matched_by)})[/]",
                highlight=False,
            )
            out.print(f"   {escape(m.title)}", highlight=False)
    else:
        out.print("No known error matches.")
    lines = "line" if report.lines_in == 1 else "lines"
    out.print(f"[dim](read {report.lines_in} {lines}, used {report.lines_used})[/]")
    if report.location:
        out.print(f"[bold]Where:[/] {escape(report.location)}", highlight=False)
    if report.cause is None or report.fix is None or report.fallback:
        if report.matches and not report.no_match:  # --no-llm, or a fallback: the KB's text
            best = report.matches[0]
            out.print()
            out.print(f"[bold]Cause[/] (from {best.id}): {escape(best.cause)}")
            out.print(f"[bold]Fix[/] (from {best.id}): {escape(best.fix)}")
        return
    out.print()
    for label, text in (("Cause", report.cause), ("Fix", report.fix)):
        source = report.from_kb.get(label.lower())  # the entry's own text, named by the model
        head = f"[bold]{label}[/] (from {source}):" if source else f"[bold]{label}:[/]"
        out.print(f"{head} {escape(text)}")
    cited = ", ".join(report.cited_ids) if report.cited_ids else "none"
    out.print(f"[bold]Citations:[/] {escape(cited)}  [dim](confidence {report.confidence})[/]")
    explain_ms = report.timings_ms.get("explain")
    if explain_ms is not None:
        out.print(f"[dim](explained in {explain_ms / 1000:.1f} s)[/]")


def triage(
    file: Annotated[
        str,
        typer.Argument(
            help="log or stack-trace file; - reads stdin; or the error's text itself, quoted"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    no_llm: Annotated[
        bool, typer.Option("--no-llm", help="only the KB lookup: no LLM explanation")
    ] = False,
    top_k: Annotated[int, typer.Option(min=1, max=20, help="known errors to show")] = 3,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
) -> None:
    """Find the known errors in a log or stack trace and explain the cause and the fix.

    [bold]Examples[/]

      agent triage crash.log

      kubectl logs pod/api-7f9c | agent triage -

      agent triage "OSError: [Errno 28] No space left on device"

      agent triage --no-llm --json trace.txt | jq '.matches[0].id'

    Matched known errors come from the KB (signature, stack-trace fields, BM25 and dense
    search, no LLM); then one LLM call explains the cause and the fix and cites the KB ids it
    used, among those matched. If no entry matches (nothing matched the input's signature or
    stack trace, and none is close in meaning), it says so and lists the nearest entries
    without explaining them. If the LLM is unreachable or its reply is unusable, the best
    match's own KB cause and fix are printed instead, marked with the entry they come from.
    Grow the KB with `agent errors import`.
    """
    request = _request(_read(file), top_k=top_k, llm=not no_llm)
    with exit_on_agent_error(err):
        settings = load_settings(base_url=base_url, model=model)
        report = asyncio.run(run_triage(request, settings=settings))
    if as_json:
        out.print(report.model_dump_json(indent=2), markup=False, highlight=False)
    else:
        _print_report(report)
    if report.llm_error:
        err.print(
            f"[yellow]warning: no explanation from the LLM ({escape(report.llm_error)}); "
            "showing the KB's cause and fix[/]"
        )
