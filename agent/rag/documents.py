"""The document store: ingest files (manuals, notes, runbooks) into Milvus and search them.

::

    from agent.rag import DocumentStore
    from agent.settings import Settings

    with DocumentStore.open(Settings.load()) as docs:
        report = docs.ingest(["docs/", "notes.md"], source="handbook", tags=["ops"])
        print(report.chunks_added, report.skipped)
        for hit in docs.search("how do I rotate the keys?", top_k=3, tags=["ops"]):
            print(hit.score, hit.fields["path"], hit.fields["position"])

A file is identified by its resolved path. Its chunks carry a hash of everything that shapes
them (content, source, tags, chunking, embedding model): re-ingesting an unchanged file costs
two count queries and changes nothing; a changed file gets its new chunks written, then the old
ones deleted. Unreadable, binary and unsupported files are skipped with a warning. Progress is
reported through a ``progress(done, total)`` callback; drawing it is the caller's job.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.closing import Closing
from agent.rag._chunking import CHUNKER_VERSION, Chunk, chunk_text
from agent.rag._queries import NAMED_POOL, in_named_sections, interleave, named_apis, query_parts
from agent.rag._readers import UnreadableFileError, iter_files, read_document
from agent.rag._reports import DocumentStats, IngestReport, SourceInfo
from agent.settings import Settings
from agent.store import (
    Collection,
    CollectionSpec,
    Embedder,
    FieldSpec,
    Hit,
    SearchMode,
    VectorStore,
    all_of,
    eq,
    has_any,
    make_embedder,
    one_of,
)

log = logging.getLogger(__name__)

DOC_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("source", "str", max_length=512, description="label given at ingest"),
    FieldSpec("path", "str", max_length=2048, description="resolved file path"),
    FieldSpec("position", "int", description="chunk number within the file"),
    FieldSpec("title", "str", max_length=512),
    FieldSpec("section", "str", max_length=1024, description="heading path of the chunk"),
    FieldSpec("tags", "str_list", max_length=128, max_items=32),
    FieldSpec("ingested_at", "int", description="unix time"),
    FieldSpec("doc_hash", "str", max_length=64),
    FieldSpec("chunks", "int", description="chunks in the file (listing needs no scan)"),
)

ProgressFn = Callable[[int, int], None]


def documents_spec(name: str, dim: int) -> CollectionSpec:
    """The collection the documents live in: one row per chunk, ``DOC_FIELDS`` beside the text."""
    return CollectionSpec(
        name=name, dim=dim, fields=DOC_FIELDS, description="agent-runtime ingested documents"
    )


@dataclass
class _Pending:
    path: str
    source: str
    title: str
    doc_hash: str
    chunks: list[Chunk]
    replaces: bool
    partial: bool = False  # some of these very chunks are stored (an interrupted ingest)


class DocumentStore(Closing):
    """Ingest and search the documents collection of a ``VectorStore``."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        *,
        collection: str = "documents",
        chunk_size: int = 1000,
        chunk_overlap: int = 150,
        owns: bool = False,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.collection_name = collection
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._owns = owns
        self._collection: Collection | None = None

    @classmethod
    def open(cls, settings: Settings) -> DocumentStore:
        """The document store on ``settings.store_uri``; ``close()`` closes the store too."""
        store = VectorStore.from_settings(settings)
        return cls(
            store,
            make_embedder(settings),
            collection=settings.docs_collection,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            owns=True,
        )

    def collection(self, *, create: bool = True) -> Collection | None:
        """The collection, created on first need; ``None`` if absent and ``create`` is false."""
        if self._collection is None:
            if not create and not self.store.has_collection(self.collection_name):
                return None
            spec = documents_spec(self.collection_name, self.embedder.dim)
            self._collection = self.store.collection(spec)
        return self._collection

    # --- ingest --------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        source: str | None = None,
        tags: Sequence[str] = (),
        progress: ProgressFn | None = None,
    ) -> IngestReport:
        """Ingest files and directories; ``progress(done, total)`` is called per batch."""
        started = time.perf_counter()
        report = IngestReport()
        tag_list = sorted({t.strip() for t in tags if t.strip()})
        coll = self.collection()
        assert coll is not None
        pending = self._plan(coll, paths, source, tag_list, report)
        total = sum(len(p.chunks) for p in pending)
        if progress:
            progress(0, total)
        self._embed_and_write(coll, pending, tag_list, report, progress, total)
        for doc in pending:  # only after every new chunk is in: no window with nothing
            if doc.replaces:
                report.chunks_removed += coll.delete(
                    filter=all_of(eq("path", doc.path), f'doc_hash != "{doc.doc_hash}"')
                )
        if report.chunks_added or report.chunks_removed:
            coll.flush()  # unflushed rows are slow to search on Lite, unindexed on a server
        report.seconds = time.perf_counter() - started
        return report

    def _plan(
        self,
        coll: Collection,
        paths: Sequence[str | Path],
        source: str | None,
        tags: list[str],
        report: IngestReport,
    ) -> list[_Pending]:
        pending: list[_Pending] = []
        files = list({f.resolve(): f for f in iter_files(paths)}.values())  # `docs docs/a.md`
        stored = self._stored_hashes(coll, [str(f.resolve()) for f in files])
        for file in files:
            try:
                doc = read_document(file)
            except UnreadableFileError as exc:
                log.warning("skipped %s: %s", file, exc)
                report.skipped.append((str(file), str(exc)))
                continue
            resolved = str(file.resolve())
            chunks = chunk_text(doc.text, size=self.chunk_size, overlap=self.chunk_overlap)
            label = source or _display_path(resolved)
            doc_hash = hashlib.sha256(
                "\0".join(
                    [
                        self.embedder.model,
                        CHUNKER_VERSION,
                        str(self.chunk_size),
                        str(self.chunk_overlap),
                        source or "",  # a default label (a cwd-relative path) is no change
                        ",".join(tags),
                        doc.title,
                        doc.text,
                    ]
                ).encode()
            ).hexdigest()[:32]
            hashes = stored.get(resolved, {})
            same = hashes.get(doc_hash, 0)
            other = sum(n for h, n in hashes.items() if h != doc_hash)
            if same == len(chunks) and not other:
                report.files_unchanged += 1
                continue
            if other:
                report.files_replaced += 1
            else:
                report.files_added += 1
            pending.append(
                _Pending(resolved, label, doc.title, doc_hash, chunks, bool(other), same > 0)
            )
        return pending

    @staticmethod
    def _stored_hashes(coll: Collection, paths: list[str]) -> dict[str, dict[str, int]]:
        """For each stored path, its chunk count per ``doc_hash``: one query per 64 files rather
        than two per file (a Strong read costs a server ~0.3 s)."""
        cap = 16384  # Milvus' limit on one query's rows
        out: dict[str, dict[str, int]] = {}
        for start in range(0, len(paths), 64):
            group = sorted(set(paths[start : start + 64]))
            rows = coll.query(one_of("path", group), output_fields=["path", "doc_hash"], limit=cap)
            if len(rows) == cap:  # huge files: ask file by file (one file never has 16k chunks)
                rows = [
                    r
                    for path in group
                    for r in coll.query(
                        eq("path", path), output_fields=["path", "doc_hash"], limit=cap
                    )
                ]
            for row in rows:
                counts = out.setdefault(row["path"], {})
                counts[row["doc_hash"]] = counts.get(row["doc_hash"], 0) + 1
        return out

    def _embed_and_write(
        self,
        coll: Collection,
        pending: list[_Pending],
        tags: list[str],
        report: IngestReport,
        progress: ProgressFn | None,
        total: int,
    ) -> None:
        now = int(time.time())
        rows: list[dict[str, Any]] = [
            {
                "id": hashlib.sha256(
                    f"{doc.path}\0{doc.doc_hash}\0{c.position}".encode()
                ).hexdigest()[:32],
                "text": c.text,
                "source": doc.source,
                "path": doc.path,
                "position": c.position,
                "title": doc.title,
                "section": c.section,
                "tags": tags,
                "ingested_at": now,
                "doc_hash": doc.doc_hash,
                "chunks": len(doc.chunks),
            }
            for doc in pending
            for c in doc.chunks
        ]
        # insert is ~1.7x faster than upsert; ids can only exist already after an interruption
        write = coll.upsert if any(d.partial for d in pending) else coll.insert
        known = self._old_vectors(coll, [d.path for d in pending if d.replaces])
        batch = max(1, self.embedder.batch_size)
        done = 0
        # Writing batch n overlaps embedding batch n+1: the model, not Milvus, sets the pace.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="docs-writer") as writer:
            inflight: Future[int] | None = None
            for start in range(0, len(rows), batch):
                part = rows[start : start + batch]
                fresh = [r for r in part if r["text"] not in known]
                t0 = time.perf_counter()
                vectors = self.embedder.embed([r["text"] for r in fresh])
                report.embed_seconds += time.perf_counter() - t0
                for row, vec in zip(fresh, vectors, strict=True):
                    row["vector"] = vec
                for row in part:
                    if "vector" not in row:
                        row["vector"] = known[row["text"]]
                        report.chunks_reused += 1
                if inflight is not None:
                    inflight.result()
                inflight = writer.submit(write, part)
                done += len(part)
                report.chunks_added += len(part)
                if progress:
                    progress(done, total)
            if inflight is not None:
                inflight.result()

    @staticmethod
    def _old_vectors(coll: Collection, paths: list[str]) -> dict[str, Any]:
        """Text -> stored vector for the chunks of files about to be replaced: an edit to one
        section of a long file re-embeds that section only."""
        known: dict[str, Any] = {}
        for path in paths:
            rows = coll.query(eq("path", path), output_fields=["text", "vector"], limit=16384)
            known.update((r["text"], r["vector"]) for r in rows)
        return known

    # --- read side -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        top_k: int = 5,
        source: str | None = None,
        tags: Sequence[str] | None = None,
        mode: SearchMode = "auto",
        cosine: bool = False,
    ) -> list[Hit]:
        """The ``top_k`` chunks nearest ``query`` (hybrid where the engine has BM25); with
        ``cosine``, each hit's cosine similarity to the query in ``fields["cosine"]``.

        A query whose clauses name two or more code identifiers ("the default highWaterMark of
        fs.createReadStream() divided by that of fs.createWriteStream()") is also searched
        clause by clause: each clause's best chunk comes first, then the whole query's, then
        the second best of each (``agent.rag._queries``). Before all of them, for each API the
        query names (``server.keepAliveTimeout``), the chunks of the section headed by it. A
        hit's score and cosine are then those of the search that found it."""
        coll = self.collection(create=False)
        if coll is None:
            return []
        flt = all_of(
            eq("source", source) if source else None, has_any("tags", tags) if tags else None
        )
        queries = [*query_parts(query), query]
        vectors = self.embedder.embed(queries)  # one batch: a split query costs no extra calls
        names = named_apis(query)
        pool = max(top_k, NAMED_POOL) if names else top_k
        rankings = [
            coll.search(v, text=q, top_k=pool, filter=flt, mode=mode, cosine=cosine)
            for q, v in zip(queries, vectors, strict=True)
        ]
        scoped = in_named_sections(names, queries, rankings)
        return interleave([*scoped, *(r[:top_k] for r in rankings)], top_k)

    async def asearch(
        self,
        query: str,
        *,
        top_k: int = 5,
        source: str | None = None,
        tags: Sequence[str] | None = None,
        mode: SearchMode = "auto",
        cosine: bool = False,
    ) -> list[Hit]:
        return await asyncio.to_thread(
            lambda: self.search(
                query, top_k=top_k, source=source, tags=tags, mode=mode, cosine=cosine
            )
        )

    def sources(self) -> list[SourceInfo]:
        """One entry per ingested file."""
        coll = self.collection(create=False)
        if coll is None:
            return []
        rows = coll.query(
            "position == 0",
            output_fields=["source", "path", "title", "ingested_at", "chunks"],
            limit=16384,  # Milvus caps one query there
        )
        return [
            SourceInfo(r["source"], r["path"], r["title"], int(r["chunks"]), int(r["ingested_at"]))
            for r in sorted(rows, key=lambda r: (r["source"], r["path"]))
        ]

    def stats(self) -> DocumentStats:
        infos = self.sources()
        coll = self.collection(create=False)
        return DocumentStats(
            uri=self.store.uri,
            engine=f"{self.store.engine} ({self.store.server_version})",
            collection=self.collection_name,
            hybrid=coll.hybrid if coll else self.store.bm25_supported,
            chunks=coll.count() if coll else 0,
            documents=len(infos),
            sources=len({i.source for i in infos}),
            embedding_model=self.embedder.model,
            dim=self.embedder.dim,
        )

    def remove(self, source: str) -> int:
        """Delete the chunks whose source label or file path is ``source``; returns how many."""
        coll = self.collection(create=False)
        if coll is None:
            return 0
        as_path = str(Path(source).expanduser().resolve())
        removed = coll.delete(filter=f"({eq('source', source)}) or ({eq('path', as_path)})")
        if removed:
            coll.flush()  # persist the delete: the next process must not see the chunks again
        return removed

    def clear(self) -> None:
        """Drop the whole collection."""
        self.store.drop_collection(self.collection_name)
        self._collection = None

    def close(self) -> None:
        if self._owns:
            self.embedder.close()
            self.store.close()


def _display_path(resolved: str) -> str:
    """A path relative to the working directory when it is under it (shorter to read)."""
    try:
        return str(Path(resolved).relative_to(Path.cwd()))
    except ValueError:
        return resolved
