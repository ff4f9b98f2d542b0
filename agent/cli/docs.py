"""``agent docs add|list|stats|remove``: the documents ``rag_search`` searches.

``agent kb`` is the old name of this group, kept hidden: it runs the same commands after one
line on stderr saying to use ``agent docs``.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from agent.cli._common import print_error, usage_error
from agent.cli.exit_codes import ExitCode, exit_code_for
from agent.errors import AgentError
from agent.rag import DocumentStore
from agent.settings import Settings

docs_app = typer.Typer(
    name="docs",
    help=(
        "The documents searched by the rag_search tool (Milvus: AGENT_MILVUS_URI, default "
        "DATA_DIR/milvus.db; collection AGENT_DOCS_COLLECTION).\n\n"
        "  agent docs add docs/ notes.md --source handbook --tags ops\n\n"
        "  agent docs list\n\n"
        "  agent docs remove handbook"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

out = Console(soft_wrap=True)
err = Console(stderr=True)


def _fail(exc: AgentError) -> typer.Exit:
    print_error(err, exc)
    return typer.Exit(exit_code_for(exc))


def warn_kb_is_deprecated() -> None:
    """The callback of the hidden ``agent kb`` alias of this group."""
    err.print("warning: `agent kb` is deprecated; use `agent docs`", highlight=False)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} chunks/s" if speed else "… chunks/s", style="cyan")


@docs_app.command()
def add(
    paths: Annotated[
        list[str], typer.Argument(help="files or directories (.md .txt .rst .html .pdf)")
    ],
    source: Annotated[
        str | None, typer.Option(help="label for these documents (default: each file's path)")
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tags", help="tags, comma-separated or repeated (--tags ops,runbook)"),
    ] = None,
) -> None:
    """Ingest documents: chunk, embed and store them; unchanged files are skipped."""
    tag_list = [t.strip() for group in tags or [] for t in group.split(",") if t.strip()]
    if not any(Path(p).exists() for p in paths):  # before the store and the embedder load
        raise usage_error(err, f"no such file or directory: {', '.join(paths)}")
    # skipped files are printed below; without a handler the library's warning prints too
    logging.getLogger("agent.rag.documents").addHandler(logging.NullHandler())
    try:
        with (
            DocumentStore.open(Settings.load()) as docs,
            Progress(
                TextColumn("[bold]ingest"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=False,
            ) as progress,
        ):
            task = progress.add_task("ingest", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = docs.ingest(paths, source=source, tags=tag_list, progress=on_progress)
    except AgentError as exc:
        raise _fail(exc) from None
    for path, reason in report.skipped:
        err.print(f"[yellow]skipped[/] {escape(str(path))}: {escape(reason)}", highlight=False)
    out.print(
        f"{report.files_added} added, {report.files_replaced} replaced, "
        f"{report.files_unchanged} unchanged, {len(report.skipped)} skipped; "
        f"{report.chunks_added} chunks written, {report.chunks_removed} removed "
        f"in {report.seconds:.1f} s ({report.chunks_per_s:.1f} chunks/s)"
    )
    if report.skipped and not (
        report.files_added or report.files_replaced or report.files_unchanged
    ):
        raise typer.Exit(ExitCode.USAGE)  # nothing usable among the paths given


@docs_app.command("list")
def list_() -> None:
    """List the ingested documents."""
    try:
        with DocumentStore.open(Settings.load()) as docs:
            infos = docs.sources()
    except AgentError as exc:
        raise _fail(exc) from None
    if not infos:
        out.print("The document store is empty (add documents with `agent docs add PATH`).")
        return
    files = ["" if info.path.endswith(info.source) else info.path for info in infos]
    named = any(files)  # a file column only when some source is not its file's own path
    table = Table("source", *(["file"] if named else []), "title", "chunks", "ingested (UTC)")
    for column in table.columns[: 3 if named else 2]:
        column.overflow = "fold"  # a path cut to "/home/…" is useless
    for info, file in zip(infos, files, strict=True):
        when = dt.datetime.fromtimestamp(info.ingested_at, dt.UTC).strftime("%Y-%m-%d %H:%M")
        where = [escape(file)] if named else []
        table.add_row(escape(info.source), *where, escape(info.title), str(info.chunks), when)
    out.print(table)


@docs_app.command()
def stats() -> None:
    """Show where the documents live and how many there are."""
    try:
        with DocumentStore.open(Settings.load()) as docs:
            s = docs.stats()
    except AgentError as exc:
        raise _fail(exc) from None
    rows = [
        ("store", s.uri),
        ("engine", s.engine),
        ("collection", s.collection),
        ("search", "hybrid (dense + BM25, RRF)" if s.hybrid else "dense only"),
        ("documents", str(s.documents)),
        ("sources", str(s.sources)),
        ("chunks", str(s.chunks)),
        ("embeddings", f"{s.embedding_model} ({s.dim} dims)"),
    ]
    for key, value in rows:
        out.print(f"{key:>11}: {value}", highlight=False)


@docs_app.command()
def remove(
    source: Annotated[str | None, typer.Argument(help="a source label or a file path")] = None,
    all_: Annotated[bool, typer.Option("--all", help="drop the whole collection")] = False,
) -> None:
    """Remove one source's (or one file's) chunks, or everything with --all."""
    if (source is None) == (not all_):
        raise usage_error(err, "give a SOURCE or --all (not both)")
    try:
        with DocumentStore.open(Settings.load()) as docs:
            if all_:
                docs.clear()
                out.print(f"Dropped collection {docs.collection_name}.")
                return
            assert source is not None
            removed = docs.remove(source)
    except AgentError as exc:
        raise _fail(exc) from None
    if not removed:
        err.print(f"[yellow]nothing matched[/] {escape(repr(source))} (see `agent docs list`)")
        raise typer.Exit(ExitCode.USAGE)
    out.print(f"Removed {removed} chunks of {escape(source)}.")
