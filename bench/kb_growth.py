"""Growing the KB from question/answer pairs: how many duplicates are caught, how many wrongly.

    .venv/bin/python bench/kb_growth.py --data ../shared/data/loghub \
        --d4j ../shared/data/defects4j/traces_dev.jsonl

Each labelled line or trace becomes one resolved pair (text, a cause naming its class, a fix)
and the whole export goes through ``plan_qa_import`` (Milvus Lite, temp dir) into an empty KB,
where only the pairs before it can make a pair a duplicate, and, for Loghub, into a KB that
already holds the system's templates (``agent errors import *_templates.csv``), where the lookup
must fold every line into its own template's entry:

    loghub  HDFS, Apache, Hadoop, Spark, Zookeeper: each structured log line is a pair; its class
            is the line's EventId (the same message with other numbers, ids, paths)
    d4j     every failing test's trace of every Defects4J dev bug; its class is the bug

Per run: pairs, new entries, pairs skipped or merged as duplicates, and of those the *wrong*
ones (folded into an entry of another class: that report's cause and fix are not in the KB,
only its url). ``new_per_class`` above 1 (empty KB) means duplicates that got through: the same
class, not recognised as such; above 0 (templates KB) lines the templates did not catch.
Target: no wrong dedupes. Prints a table and a final JSON line; exits 0 with a message when the
data is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from task_suites.triage import load_defects4j

from agent.known_errors import ErrorIndex, KnownError, QAPair, import_file, plan_qa_import
from agent.store import EmbeddingCache, LocalEmbedder, VectorStore

SYSTEMS = ("HDFS", "Apache", "Hadoop", "Spark", "Zookeeper")


def loghub_pairs(root: Path, system: str, limit: int | None) -> list[tuple[str, str]]:
    path = root / system / f"{system}_2k.log_structured.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    return [(row["Content"], row["EventId"]) for row in rows]


def d4j_pairs(path: Path) -> list[tuple[str, str]]:
    out = []
    for bug in load_defects4j(path):
        for test in bug["failing_tests"]:
            if test["stack_trace"].strip():
                out.append((test["stack_trace"], f"{bug['project']}-{bug['bug_id']}"))
    return out


def grow(
    labelled: Sequence[tuple[str, str]], index: ErrorIndex, seeded: dict[str, str]
) -> dict[str, object]:
    """Plan the import of ``labelled`` (text, class) into ``index``, whose entries' classes are
    ``seeded`` (entry id -> class), and count right and wrong dedupes."""
    pairs = [
        (i + 1, QAPair(text=text, cause=f"class {label}", fix=f"fix of {label}", title=None))
        for i, (text, label) in enumerate(labelled)
    ]
    started = time.perf_counter()
    plan = plan_qa_import(index, pairs, prefix="qa")
    elapsed = time.perf_counter() - started
    owner = dict(seeded)  # entry id -> its class: seeded, or of the pair that created it
    for decision, (_, label) in zip(plan.decisions, labelled, strict=True):
        if decision.action == "add":
            owner[decision.entry_id] = label
    wrong = sum(
        1
        for decision, (_, label) in zip(plan.decisions, labelled, strict=True)
        if decision.action != "add" and owner.get(decision.entry_id, label) != label
    )
    classes = len({label for _, label in labelled})
    return {
        "pairs": len(pairs),
        "classes": classes,
        "entries": plan.count("add"),
        "skipped": plan.count("skip"),
        "merged": plan.count("merge"),
        "wrong_dedupes": wrong,
        "new_per_class": round(plan.count("add") / classes, 2),
        "ms_per_pair": round(1000 * elapsed / len(pairs), 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/loghub"))
    parser.add_argument(
        "--d4j", type=Path, default=Path("../shared/data/defects4j/traces_dev.jsonl")
    )
    parser.add_argument("--limit", type=int, default=None, help="lines per Loghub system")
    args = parser.parse_args(argv)
    runs: list[tuple[str, str, list[tuple[str, str]], list[KnownError]]] = []
    for system in SYSTEMS:
        if (args.data / system).is_dir():
            lines = loghub_pairs(args.data, system, args.limit)
            templates = import_file(args.data / system / f"{system}_2k.log_templates.csv")
            runs.append((system, "empty", lines, []))
            runs.append((system, "templates", lines, templates))
    if args.d4j.is_file():
        runs.append(("d4j", "empty", d4j_pairs(args.d4j), []))
    if not runs:
        print(f"skipped: no Loghub data at {args.data} and no Defects4J traces at {args.d4j}")
        return 0
    embedder = LocalEmbedder()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = EmbeddingCache(Path(cache_dir) / "embeddings.sqlite")
        for name, kb, labelled, seed in runs:
            print(f"{name} into {kb} KB: {len(labelled)} pairs ...", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                store = VectorStore(os.path.join(tmp, "growth.db"))
                with ErrorIndex(store, embedder, owns_store=True, embedding_cache=cache) as index:
                    index.upsert(seed)
                    # a template entry's class is its EventId: the id after the prefix
                    seeded = {e.id: e.id.rsplit("-", 1)[1] for e in seed}
                    results[f"{name}/{kb}"] = grow(labelled, index, seeded)
        cache.close()
    cols = ("pairs", "classes", "entries", "skipped", "merged", "wrong_dedupes", "new_per_class")
    print("| suite | KB before | " + " | ".join(cols) + " | ms/pair |")
    print("|---" * (len(cols) + 3) + "|")
    for key, res in results.items():
        name, kb = key.split("/")
        cells = " | ".join(str(res[c]) for c in cols)
        print(f"| {name} | {kb} | {cells} | {res['ms_per_pair']} |")
    wrong = sum(int(str(r["wrong_dedupes"])) for r in results.values())
    print(f"wrong dedupes: {wrong} (target 0): {'met' if wrong == 0 else 'NOT met'}")
    machine = f"{platform.machine()}, {os.cpu_count()} cpu, python {platform.python_version()}"
    print(json.dumps({"benchmark": "kb_growth", "machine": machine, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
