"""``agent errors import|list|stats|show|remove``: the known-error KB (collection mcp-errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.cli._common import exit_on_agent_error, usage_error
from agent.known_errors import (
    ErrorIndex,
    KnownError,
    dump_kb_yaml,
    import_file,
    load_qa_file,
    plan_qa_import,
)
from agent.settings import Settings

errors_app = typer.Typer(
    name="errors",
    help=(
        "The known-error KB that lookup_error, triage and the MCP server search (Milvus "
        "collection mcp-errors at AGENT_ERRORS_MILVUS_URI, default DATA_DIR/errors.db). The "
        "starter KB is loaded on first use.\n\n"
        "  agent errors import team-errors.yaml\n\n"
        "  agent errors import HDFS_2k.log_templates.csv --prefix hdfs\n\n"
        "  agent errors import resolved-issues.jsonl --dry-run\n\n"
        "  agent errors list --tag vllm"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@errors_app.command("import")
def import_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help=(
                "a KB file (.yaml/.yml/.json), a templates CSV, or resolved question/answer "
                "pairs (.jsonl: text, cause, fix per line)"
            ),
        ),
    ],
    prefix: Annotated[
        str | None,
        typer.Option(
            help=(
                "id prefix for CSV templates (default: the file name up to its first _) and "
                "for entries added from .jsonl pairs (default: qa)"
            )
        ),
    ] = None,
    yaml_out: Annotated[
        Path | None,
        typer.Option(
            "--yaml", help="also write the entries as a KB YAML file (to review them in a PR)"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="validate only; write nothing")] = False,
) -> None:
    """Validate FILE and add its entries (new ids are added, existing ids replaced).

    Question/answer pairs (.jsonl) are checked against the KB first: a pair whose error is
    already known is skipped, one that an entry's signature recognises becomes a new example of
    that entry, and only the rest become new entries, so importing twice adds nothing.
    """
    with exit_on_agent_error(err):
        if file.suffix.lower() == ".jsonl":
            _import_pairs(file, prefix=prefix or "qa", yaml_out=yaml_out, dry_run=dry_run)
            return
        entries = import_file(file, prefix=prefix)
        _write_yaml(entries, yaml_out)
        if dry_run:
            out.print(f"{file}: {len(entries)} valid entries (dry run: nothing imported)")
            return
        with ErrorIndex.open(Settings.load()) as index:
            written = index.upsert(entries)
            out.print(
                f"imported {written} entries from {file} into {index.store.uri} "
                f"({index.count()} known errors in total)"
            )


def _write_yaml(entries: list[KnownError], path: Path | None) -> None:
    if path is not None:
        path.write_text(dump_kb_yaml(entries), encoding="utf-8")
        out.print(f"wrote {len(entries)} entries to {path}")


def _import_pairs(file: Path, *, prefix: str, yaml_out: Path | None, dry_run: bool) -> None:
    pairs = load_qa_file(file)
    with ErrorIndex.open(Settings.load()) as index:

        def progress(done: int, total: int) -> None:
            if total > 32:
                err.print(f"checked {done}/{total} pairs against the KB", highlight=False)

        plan = plan_qa_import(index, pairs, prefix=prefix, on_progress=progress)
        for decision in plan.decisions:
            if decision.action != "add":
                out.print(
                    f"line {decision.line}: {decision.action} -> {decision.entry_id} "
                    f"({decision.reason})",
                    markup=False,
                    highlight=False,
                )
        _write_yaml(plan.entries, yaml_out)
        counts = (
            f"{plan.count('add')} new, {plan.count('merge')} merged into existing entries, "
            f"{plan.count('skip')} already known"
        )
        if dry_run:
            out.print(f"{file}: {len(pairs)} pairs: {counts} (dry run: nothing imported)")
            return
        index.upsert(plan.entries)
        out.print(
            f"{file}: {len(pairs)} pairs: {counts}; {index.store.uri} has "
            f"{index.count()} known errors"
        )


@errors_app.command("list")
def list_cmd(
    tag: Annotated[str | None, typer.Option(help="only entries with this tag")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one entry each")] = False,
) -> None:
    """List the known errors: id, title and tags."""
    with exit_on_agent_error(err), ErrorIndex.open(Settings.load()) as index:
        entries = [e for e in index.entries() if tag is None or tag in e.tags]
        if as_json:
            for entry in entries:
                out.print(entry.model_dump_json(), markup=False, highlight=False)
            return
        table = Table("id", "title", "tags", box=None, pad_edge=False)
        for entry in entries:
            table.add_row(entry.id, escape(entry.title), ", ".join(entry.tags))
        out.print(table)
        out.print(f"{len(entries)} known errors")


@errors_app.command("show")
def show_cmd(entry_id: Annotated[str, typer.Argument(help="the entry id")]) -> None:
    """Print one entry as KB YAML."""
    with exit_on_agent_error(err), ErrorIndex.open(Settings.load()) as index:
        entry = index.get(entry_id)
        if entry is None:
            raise usage_error(err, f"no known error with id {entry_id!r}")
        out.print(dump_kb_yaml([entry]), markup=False, highlight=False)


@errors_app.command("stats")
def stats_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """How many entries, with signatures, undocumented (imported), and per tag."""
    with exit_on_agent_error(err), ErrorIndex.open(Settings.load()) as index:
        info = index.stats()
        if as_json:
            out.print(json.dumps(info), markup=False, highlight=False)
            return
        out.print(
            f"{info['entries']} known errors in {info['store']} ({info['engine']}, "
            f"BM25 {'on' if info['bm25'] else 'off'}); {info['with_signature']} with a "
            f"signature, {info['undocumented']} undocumented"
        )
        top = list(info["tags"].items())[:20]
        out.print("tags: " + ", ".join(f"{t} {n}" for t, n in top))


@errors_app.command("remove")
def remove_cmd(ids: Annotated[list[str], typer.Argument(help="entry ids to delete")]) -> None:
    """Delete entries by id (starter entries come back on the next start unless changed)."""
    with exit_on_agent_error(err), ErrorIndex.open(Settings.load()) as index:
        missing = [i for i in ids if index.get(i) is None]
        if missing:
            raise usage_error(err, f"unknown ids: {', '.join(missing)}")
        index.delete(ids)
        out.print(f"removed {len(ids)} entries")
