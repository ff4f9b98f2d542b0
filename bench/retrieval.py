"""Retrieval: ingest throughput against embedding-only throughput, and search latency at scale.

    .venv/bin/python bench/retrieval.py [--ingest-chunks 256] [--rounds 2]
        [--sizes 10000,100000] [--queries 200] [--server-queries 2000] [--batch 10]
        [--engines lite,server]

1. Ingest vs embedding (real all-MiniLM-L6-v2 on CPU, synthetic prose in Markdown files cut to
   ~900-character chunks). ``embed-only`` times ``embedder.embed`` over the very chunks ingest
   produces; ``ingest`` times ``DocumentStore.ingest`` of the files into a fresh Milvus Lite
   database (read, chunk, hash, embed, write, all of it). Interleaved A-B, B-A by round; medians.
   Target: ingest >= 85% of embedding-only throughput.
2. Search latency at each size on Milvus Lite (in this process) and on a Milvus 2.3.5 standalone
   server (PyPI ``milvus``, started here on a free port). To keep the run short the stored
   vectors are RANDOM unit vectors (384 dims), not model output, and the queries are random unit
   vectors too: latency of an HNSW/brute-force search does not depend on what the vectors mean.
   Texts are short synthetic sentences, so BM25 (Lite's hybrid path) has real postings. Query
   embedding time is not included. ``single``: one query per call; ``batch``: ``--batch``
   queries per call (per-call latency, and per query). Target: server p99 <= 20 ms at 100k.

   Steady state is what is timed: after the index build reports ``Finished`` the server's query
   node still searches the last segment by brute force until it has loaded that segment's index
   (about 8 s here), so the run waits for every loaded segment to have its index; Lite reports
   ``Finished`` at once yet keeps building for about a minute, so the run releases and reloads
   the collection, which returns once the index is in use. Then it times the first (cold)
   search on its own and runs 50 warm-up searches before timing. A p99 needs many
   samples: 2,000 single searches on the server (``--server-queries``); Lite at 100k takes about
   a second per search, so it gets ``--queries`` (200).

Prints tables and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.rag import DocumentStore, chunk_text
from agent.store import (
    Collection,
    CollectionSpec,
    FieldSpec,
    LocalEmbedder,
    VectorStore,
    eq,
    is_lite_uri,
)

WORDS = (  # noqa: SIM905 - a word list reads better as prose
    "system deploy cluster node restart error timeout cache memory disk network request "
    "response token model server client latency queue worker retry backoff index shard "
    "replica schema field vector search query filter batch stream event log metric alert "
    "policy config secret key rotate certificate upgrade rollback release pipeline build "
    "test coverage lint format type check review merge branch commit tag version package "
    "install dependency runtime process thread lock signal socket port host route proxy"
).split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
    return " ".join(words).capitalize() + "."


def write_corpus(root: Path, chunks: int, chunk_size: int, seed: int = 7) -> None:
    """Markdown files of sections whose paragraphs fill about one chunk each."""
    rng = random.Random(seed)
    per_file = 16
    for f in range(max(1, chunks // per_file)):
        parts = [f"# Document {f}\n"]
        for s in range(per_file):
            parts.append(f"## Section {s}\n")
            para: list[str] = []
            while sum(len(x) + 1 for x in para) < chunk_size * 0.8:
                para.append(sentence(rng))
            parts.append(" ".join(para) + "\n")
        (root / f"doc{f:04d}.md").write_text("\n".join(parts))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) * 1000.0


# --- part 1 ------------------------------------------------------------------------------------


def bench_ingest(n_chunks: int, rounds: int, chunk_size: int, overlap: int) -> dict[str, Any]:
    embedder = LocalEmbedder(batch_size=64)
    t0 = time.perf_counter()
    embedder.load()
    load_s = time.perf_counter() - t0
    embedder.embed(["warm up the model"] * 64)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    corpus = work / "corpus"
    corpus.mkdir()
    write_corpus(corpus, n_chunks, chunk_size)
    texts = [
        c.text
        for path in sorted(corpus.glob("*.md"))
        for c in chunk_text(path.read_text(), size=chunk_size, overlap=overlap)
    ]
    embed_rates: list[float] = []
    ingest_rates: list[float] = []
    try:
        for r in range(rounds):
            # A B, then B A: neither variant always runs first on a noisy machine
            for variant in ("embed", "ingest") if r % 2 == 0 else ("ingest", "embed"):
                if variant == "embed":
                    t0 = time.perf_counter()
                    embedder.embed(texts)
                    embed_rates.append(len(texts) / (time.perf_counter() - t0))
                    continue
                with VectorStore(work / f"round{r}.db") as store:
                    documents = DocumentStore(
                        store, embedder, chunk_size=chunk_size, chunk_overlap=overlap
                    )
                    report = documents.ingest([corpus])
                assert report.chunks_added == len(texts), (report.chunks_added, len(texts))
                ingest_rates.append(report.chunks_per_s)
            print(
                f"  round {r + 1}: embed-only {embed_rates[-1]:.1f} chunks/s, "
                f"ingest {ingest_rates[-1]:.1f} chunks/s",
                file=sys.stderr,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    embed = statistics.median(embed_rates)
    ingest = statistics.median(ingest_rates)
    return {
        "chunks": len(texts),
        "mean_chunk_chars": round(sum(map(len, texts)) / len(texts)),
        "model_load_s": round(load_s, 1),
        "embed_only_chunks_per_s": round(embed, 2),
        "ingest_chunks_per_s": round(ingest, 2),
        "ingest_vs_embed": round(ingest / embed, 3),
        "rounds": rounds,
    }


# --- part 2 ------------------------------------------------------------------------------------


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def fill(coll: Collection, n: int, dim: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    started = time.perf_counter()
    step = 2000
    for start in range(0, n, step):
        count = min(step, n - start)
        vectors = unit_rows(rng, count, dim)
        coll.insert(
            [
                {
                    "id": f"c{start + i}",
                    "vector": vectors[i],
                    "text": sentence(pyrng),
                    "source": f"s{(start + i) % 20}",
                    "position": start + i,
                }
                for i in range(count)
            ]
        )
    coll.flush()
    return n / (time.perf_counter() - started)


def search_once(coll: Collection, query: np.ndarray, text: str, mode: str, flt: str) -> float:
    t0 = time.perf_counter()
    coll.search(
        query,
        text=text if mode == "hybrid" else None,
        top_k=10,
        filter=flt,
        mode="hybrid" if mode == "hybrid" else "dense",
        output_fields=["source"],
    )
    return time.perf_counter() - t0


def time_searches(
    coll: Collection, queries: np.ndarray, texts: list[str], batch: int, mode: str, flt: str = ""
) -> dict[str, float]:
    single = [search_once(coll, q, t, mode, flt) for q, t in zip(queries, texts, strict=True)]
    batched: list[float] = []
    for start in range(0, len(queries) - batch + 1, batch):
        qs = queries[start : start + batch]
        ts = texts[start : start + batch] if mode == "hybrid" else None
        t0 = time.perf_counter()
        coll.search_many(
            qs,
            texts=ts,
            top_k=10,
            filter=flt,
            mode="hybrid" if mode == "hybrid" else "dense",
            output_fields=["source"],
        )
        batched.append(time.perf_counter() - t0)
    return {
        "single_p50_ms": round(pct(single, 50), 2),
        "single_p99_ms": round(pct(single, 99), 2),
        "single_p999_ms": round(pct(single, 99.9), 2),
        "single_max_ms": round(max(single) * 1000.0, 2),
        "queries": len(single),
        "batch_p50_ms": round(pct(batched, 50), 2),
        "batch_p99_ms": round(pct(batched, 99), 2),
        "batch_per_query_ms": round(pct(batched, 50) / batch, 2),
    }


def bench_search(
    uri: str, engine: str, sizes: list[int], n_queries: int, batch: int
) -> list[dict[str, Any]]:
    dim = 384
    spec = CollectionSpec(
        name="bench_search",
        dim=dim,
        fields=(FieldSpec("source", "str", max_length=32), FieldSpec("position", "int")),
    )
    rng = np.random.default_rng(1)
    queries = unit_rows(rng, n_queries, dim)
    pyrng = random.Random(2)
    texts = [" ".join(pyrng.choice(WORDS) for _ in range(4)) for _ in range(n_queries)]
    out: list[dict[str, Any]] = []
    with VectorStore(uri) as store:
        for size in sizes:
            store.drop_collection(spec.name)
            coll = store.collection(spec)
            rate = fill(coll, size, dim, seed=size)
            index_s = wait_for_index(store, spec.name)  # both build indexes in the background
            cold_ms = search_once(coll, queries[0], texts[0], "dense", "") * 1000.0
            modes = ["dense", "dense+filter"] + (["hybrid"] if coll.hybrid else [])
            for mode in modes:
                flt = eq("source", "s3") if mode == "dense+filter" else ""
                base_mode = "dense" if mode == "dense+filter" else mode
                warm = min(50, n_queries)
                time_searches(coll, queries[:warm], texts[:warm], batch, base_mode, flt)
                row = {
                    "engine": engine,
                    "chunks": size,
                    "mode": mode,
                    "insert_rows_per_s": round(rate),
                    "index_ready_s": round(index_s, 1),
                    "cold_first_search_ms": round(cold_ms, 2),
                    **time_searches(coll, queries, texts, batch, base_mode, flt),
                }
                print(f"  {engine} {size} {mode}: {row}", file=sys.stderr)
                out.append(row)
            store.drop_collection(spec.name)
    return out


def wait_for_index(store: VectorStore, name: str, timeout_s: float = 600) -> float:
    """Seconds until the index is built and, on a server, loaded for every segment."""
    started = time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        info = store._call("describe_index", name, "vector")
        if int(info.get("pending_index_rows", 0)) == 0 and info.get("state") == "Finished":
            break
        time.sleep(0.5)
    else:
        raise SystemExit(f"index on {name} not built within {timeout_s} s")
    if is_lite_uri(store.uri):
        # Lite says Finished at once but goes on building in the background for about a minute
        # after a 100k bulk load (searches run ~5x slower meanwhile); a release and load blocks
        # until the collection is searched through its finished index
        store._call("release_collection", name)
        store._call("load_collection", name)
        return time.monotonic() - started
    connection = store._client._get_connection()
    while time.monotonic() < deadline:
        segments = connection.get_query_segment_info(name)
        if segments and all(s.index_name for s in segments):
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"the query node did not load the index on {name} within {timeout_s} s")


def start_server() -> tuple[Any, str, str]:
    from milvus import default_server

    base = tempfile.mkdtemp(prefix="bench-milvus-")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    default_server.set_base_dir(base)
    default_server.listen_port = port
    default_server.start()
    return default_server, base, f"http://127.0.0.1:{port}"


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ingest-chunks", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200, help="single searches on Lite")
    parser.add_argument(
        "--server-queries", type=int, default=2000, help="single searches on the server"
    )
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--engines", default="lite,server", help="lite, server or both")
    parser.add_argument("--no-server", action="store_true", help="same as --engines lite")
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    print(f"machine: {machine}", file=sys.stderr)

    ingest: dict[str, Any] = {}
    if not args.skip_ingest:
        print("part 1: ingest vs embedding-only", file=sys.stderr)
        ingest = bench_ingest(args.ingest_chunks, args.rounds, args.chunk_size, 150)

    print("part 2: search latency (random unit vectors)", file=sys.stderr)
    engines = {"lite"} if args.no_server else set(args.engines.split(","))
    rows: list[dict[str, Any]] = []
    if "lite" in engines:
        work = Path(tempfile.mkdtemp(prefix="bench-search-"))
        rows += bench_search(str(work / "lite.db"), "lite", sizes, args.queries, args.batch)
        shutil.rmtree(work, ignore_errors=True)
    if "server" in engines:
        server, base, uri = start_server()
        try:
            rows += bench_search(uri, "server", sizes, args.server_queries, args.batch)
        finally:
            server.stop()
            shutil.rmtree(base, ignore_errors=True)

    if ingest:
        print("\n| chunks | mean chars | embed-only chunks/s | ingest chunks/s | ratio |")
        print("|---|---|---|---|---|")
        print(
            f"| {ingest['chunks']} | {ingest['mean_chunk_chars']} | "
            f"{ingest['embed_only_chunks_per_s']} | {ingest['ingest_chunks_per_s']} | "
            f"{ingest['ingest_vs_embed']:.1%} |"
        )
    print(
        "\n| engine | chunks | mode | insert rows/s | index ready s | cold first ms | queries | "
        "single p50 ms | single p99 ms | p99.9 ms | max ms | "
        f"batch({args.batch}) p50 ms | batch p99 ms | per query in batch ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['chunks']} | {r['mode']} | {r['insert_rows_per_s']} | "
            f"{r['index_ready_s']} | {r['cold_first_search_ms']} | {r['queries']} | "
            f"{r['single_p50_ms']} | {r['single_p99_ms']} | {r['single_p999_ms']} | "
            f"{r['single_max_ms']} | {r['batch_p50_ms']} | "
            f"{r['batch_p99_ms']} | {r['batch_per_query_ms']} |"
        )
    server_100k = [
        r
        for r in rows
        if r["engine"] == "server" and r["chunks"] == 100_000 and r["mode"] == "dense"
    ]
    summary = {
        "machine": machine,
        "ingest": ingest,
        "search": rows,
        "targets": {
            "ingest_ge_85pct_of_embed": ingest.get("ingest_vs_embed", 0) >= 0.85
            if ingest
            else None,
            "server_p99_le_20ms_at_100k": server_100k[0]["single_p99_ms"] <= 20
            if server_100k
            else None,
        },
        "notes": "search part uses random unit vectors (not model output); query embedding "
        "time excluded",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
