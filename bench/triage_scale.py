"""Lookup latency at N entries, for ``triage_recall.py --scale N``: the real KB (the Defects4J
entries and the five Loghub systems' templates) grown with renamed copies. Copy k of a template
starts with a word ``svc<k>``; copy k of a trace has its package roots renamed (``org.jsoup`` to
``org.jsoup<k>``)."""

from __future__ import annotations

import csv
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from agent.known_errors import ErrorIndex, KnownError, import_file
from agent.known_errors.importer import template_to_regex
from agent.store import EmbeddingCache, LocalEmbedder, VectorStore
from agent.text import clip

SYSTEMS = ("HDFS", "Apache", "Hadoop", "Spark", "Zookeeper")


_PACKAGE_ROOT = re.compile(r"\b(org|com|net|io|edu)\.(\w+)")


def renamed_copy(entry: KnownError, k: int) -> KnownError:
    """Copy ``k`` of ``entry`` under another name (see the module docstring, scale)."""
    signature = entry.signature
    if signature is not None:  # an imported template's: the template with the word first
        signature = template_to_regex(f"svc{k} {entry.examples[0]}")
    return KnownError(
        id=f"{entry.id}-c{k}",
        title=clip(f"svc{k} {entry.title}", 300),
        signature=signature,
        examples=[
            _PACKAGE_ROOT.sub(lambda m: f"{m.group(1)}.{m.group(2)}{k}", x) for x in entry.examples
        ],
        cause=entry.cause,
        fix=entry.fix,
        tags=entry.tags,
        references=entry.references,
    )


def run_scale(
    d4j: tuple[list[KnownError], list[str], list[str]],
    root: Path,
    size: int,
    embedder: LocalEmbedder,
    cache: EmbeddingCache,
    n_queries: int = 100,
) -> dict[str, object]:
    """Lookup latency (and recall@1) at ``size`` entries (see the module docstring)."""
    entries, d4j_queries, d4j_gold = list(d4j[0]), d4j[1], d4j[2]
    log_queries: list[str] = []
    log_gold: list[str] = []
    for system in SYSTEMS:
        templates = import_file(root / system / f"{system}_2k.log_templates.csv")
        prefix = templates[0].id.rsplit("-", 1)[0]
        entries += templates
        path = root / system / f"{system}_2k.log_structured.csv"
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))[: n_queries // len(SYSTEMS)]
        log_queries += [row["Content"] for row in rows]
        log_gold += [f"{prefix}-{row['EventId']}" for row in rows]
    real = list(entries)
    k = 0
    while len(entries) < size:
        k += 1
        entries += [renamed_copy(e, k) for e in real[: size - len(entries)]]
    step = max(1, len(d4j_queries) // n_queries)
    picked = list(range(0, len(d4j_queries), step))[:n_queries]
    kinds = {
        "traces": ([d4j_queries[i] for i in picked], [d4j_gold[i] for i in picked]),
        "logs": (log_queries, log_gold),
    }
    result: dict[str, object] = {"entries": len(entries), "copies_of_each": k}
    with tempfile.TemporaryDirectory() as tmp:
        store = VectorStore(os.path.join(tmp, "bench.db"))
        with ErrorIndex(store, embedder, owns_store=True, embedding_cache=cache) as index:
            print(f"scale: indexing {len(entries):,} entries ...", file=sys.stderr, flush=True)
            index.upsert(entries)
            index.lookup(d4j_queries[0])  # build the in-memory indexes before timing
            for kind, (queries, gold) in kinds.items():
                times: list[float] = []
                hits = 0
                for query, truth in zip(queries, gold, strict=True):
                    t0 = time.perf_counter()
                    matches = index.lookup(query, top_k=5)
                    times.append(1000 * (time.perf_counter() - t0))
                    hits += bool(matches) and matches[0].id == truth
                times.sort()
                result[kind] = {
                    "queries": len(queries),
                    "p50_ms": round(statistics.median(times), 2),
                    "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2),
                    "r1": round(hits / len(queries), 4),
                }
    return result
