"""Find the known errors that match a log line, an error message or a stack trace.

Three signals over the Milvus collection ``mcp-errors``, fused by weighted reciprocal rank::

    signature  each entry's regex, searched in the input (the raw input up to 200k chars);
               several matches rank by specificity: characters matched outside wildcards
    trace      for a stack-trace input only: field-weighted BM25 over the parsed traces of the
               entries' examples (exception types, masked messages, own frames, frame:line;
               ``agent.known_errors.traces``), in memory
    bm25       BM25 over the entry's title + examples + tags, in memory (``known_errors.bm25``)
    dense      cosine similarity of all-MiniLM-L6-v2 embeddings in Milvus (query: the exception
               lines), for inputs that are neither a trace nor matched by a signature

The trace signal exists only for stack-trace inputs and entries with trace examples, and for a
trace input those entries are ranked by it alone (``Rankings.for_fusion``): BM25 and dense over
a trace's raw text made the fused ranking worse than the trace signal on Defects4J
(``bench/triage_recall.py``). Entries without trace examples keep BM25 and dense.

    score(entry) = sum over signals s of  weight_s / (RRF_K + rank_s(entry))

A signature match is near-proof (the regex was written for that message), so it weighs more
than either retrieval signal; BM25 and dense still order several signature matches and carry
inputs no regex anticipated. Long inputs are reduced first (``reduce_log``). Each ``ErrorMatch``
says which signals matched and at what rank, so callers can show why.

The dense signal is the costly one (embedding the input on the CPU, ~45 ms, then a search) and
it is asked only where ``bench/triage_recall.py`` shows it can help: free text. A log line that
a signature matched or a parsed stack trace is ranked without it (Loghub r@1 and Defects4J r@1
are unchanged without it), which keeps a lookup at 10,000 entries in a few milliseconds. The KB
is in memory anyway (its regexes must be), so BM25 and the trace fields are searched there;
Milvus holds the entries and their vectors.

Usage::

    with ErrorIndex.open(settings) as index:        # loads the starter KB on first use
        for m in index.lookup(traceback_text, top_k=3):
            print(m.id, m.score, m.matched_by, m.entry.fix)
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from agent.closing import Closing
from agent.errors import KnowledgeBaseError
from agent.known_errors.bm25 import TextIndex
from agent.known_errors.importer import UNDOCUMENTED_TAG, WILDCARD_GROUP
from agent.known_errors.kb import KnowledgeBase, KnownError, load_kb
from agent.known_errors.log_reduce import reduce_log
from agent.known_errors.prefilter import required_words, text_words
from agent.known_errors.traces import TraceIndex, parse_trace
from agent.store import (
    CollectionSpec,
    Embedder,
    EmbeddingCache,
    FieldSpec,
    VectorStore,
    make_embedder,
)

if TYPE_CHECKING:
    from agent.settings import Settings

COLLECTION_NAME = "mcp-errors"
Signal = Literal["signature", "trace", "bm25", "dense"]
ALL_SIGNALS: tuple[Signal, ...] = ("signature", "trace", "bm25", "dense")
DEFAULT_WEIGHTS: Mapping[Signal, float] = {
    "signature": 3.0,
    "trace": 3.0,  # structural evidence; at least BM25 and dense together (a tie goes to it)
    "bm25": 1.0,
    "dense": 1.0,
}
RRF_K = 60
SIGNATURE_SCAN_CHARS = 200_000
_ENTRY_MAX_BYTES = 60_000
_QUERY_LIMIT = 16_384  # Milvus caps one query's offset + limit here


class SignalHit(BaseModel):
    """Where one signal ranked an entry (1 = best) and its raw score."""

    model_config = ConfigDict(frozen=True)

    rank: int
    score: float


class ErrorMatch(BaseModel):
    """One known error that matches the input, with the evidence."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    score: float
    matched_by: list[Signal]
    signals: dict[Signal, SignalHit]
    matched_text: str | None = None
    entry: KnownError


@dataclass
class Rankings:
    """One input's per-signal rankings, best first, and the text each signature matched."""

    per_signal: dict[Signal, list[tuple[str, float]]] = field(default_factory=dict)
    matched_text: list[tuple[str, float, str]] = field(default_factory=list)
    trace_covered: frozenset[str] = frozenset()  # entries the trace signal judged
    structured: bool = False  # a trace parsed or a signature matched: dense is not needed

    def for_fusion(self) -> dict[Signal, list[tuple[str, float]]]:
        """The rankings ``lookup`` fuses: an entry with trace examples is judged by the trace
        signal, not by BM25 or dense over its raw text (on Defects4J traces those made the
        fused ranking worse than the trace signal alone: ``bench/triage_recall.py``); and an
        input with structure (a trace, a signature match) is ranked without the dense signal."""
        return {
            signal: (
                [hit for hit in ranked if hit[0] not in self.trace_covered]
                if signal in ("bm25", "dense")
                else ranked
            )
            for signal, ranked in self.per_signal.items()
            if not (signal == "dense" and self.structured)
        }


@dataclass(frozen=True, slots=True)
class _Indexed:
    entry: KnownError
    pattern: re.Pattern[str] | None
    required: frozenset[str]  # words the pattern cannot match without (``prefilter``)
    digest: str


def entry_digest(entry: KnownError) -> str:
    return hashlib.sha256(entry.model_dump_json().encode("utf-8")).hexdigest()


def collection_spec(dim: int) -> CollectionSpec:
    return CollectionSpec(
        name=COLLECTION_NAME,
        dim=dim,
        fields=(
            FieldSpec("title", "str", max_length=1024),
            FieldSpec("tags", "str_list", max_length=128),
            FieldSpec("digest", "str", max_length=64),
            FieldSpec("entry", "str", max_length=65_535),
        ),
        description="known errors: signature, examples, cause and fix (agent-runtime)",
    )


def specificity(match: re.Match[str]) -> int:
    """Characters matched by the regex outside its wildcard groups (``v<N>``, see importer)."""
    wild = sum(
        len(match.group(name) or "") for name in match.re.groupindex if WILDCARD_GROUP.match(name)
    )
    return len(match.group(0)) - wild


def rrf_fuse(
    rankings: Mapping[Signal, Sequence[tuple[str, float]]],
    weights: Mapping[Signal, float],
    k: int = RRF_K,
) -> list[tuple[str, float, dict[Signal, SignalHit]]]:
    """Weighted reciprocal-rank fusion. Equal scores (two retrievers ranking two entries 1-2
    and 2-1) go to the more literal signal's choice: signature, then BM25, then dense, since
    error text is mostly literal tokens."""
    fused: dict[str, float] = {}
    evidence: dict[str, dict[Signal, SignalHit]] = {}
    for signal, ranked in rankings.items():
        weight = weights.get(signal, 1.0)
        for rank, (entry_id, score) in enumerate(ranked, start=1):
            fused[entry_id] = fused.get(entry_id, 0.0) + weight / (k + rank)
            evidence.setdefault(entry_id, {})[signal] = SignalHit(rank=rank, score=score)

    def order(entry_id: str) -> tuple[float, ...]:
        hits = evidence[entry_id]
        ranks = (hits[s].rank if s in hits else float("inf") for s in ALL_SIGNALS)
        return (-round(fused[entry_id], 12), *ranks)

    return [(i, fused[i], evidence[i]) for i in sorted(fused, key=order)]


class ErrorIndex(Closing):
    """The known-error KB in Milvus plus its regexes in memory. Thread-safe."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        *,
        weights: Mapping[Signal, float] = DEFAULT_WEIGHTS,
        owns_store: bool = False,
        embedding_cache: EmbeddingCache | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self._embedding_cache = embedding_cache
        self._owns_cache = False  # open() creates one and closes it; a given one is the caller's
        self.weights = dict(weights)
        self.collection = store.collection(collection_spec(embedder.dim))
        self._owns_store = owns_store
        self._lock = threading.Lock()
        self._cache: dict[str, _Indexed] | None = None
        self._traces: TraceIndex | None = None
        self._texts: TextIndex | None = None

    @classmethod
    def open(cls, settings: Settings, *, seed: bool = True) -> ErrorIndex:
        """Connect to ``settings.errors_store_uri``; with ``seed``, load the starter KB into an
        empty collection and refresh starter entries that changed."""
        token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
        store = VectorStore(
            settings.errors_store_uri, token=token, timeout_s=settings.milvus_timeout_s
        )
        cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite")
        try:
            index = cls(store, make_embedder(settings), owns_store=True, embedding_cache=cache)
            index._owns_cache = True
            if seed:
                index.sync(load_kb())
        except BaseException:
            cache.close()
            store.close()
            raise
        return index

    # --- writes -----------------------------------------------------------------------------

    def upsert(self, entries: Iterable[KnownError]) -> int:
        """Add or replace entries (by id). Returns how many were written."""
        batch = list(entries)
        if not batch:
            return 0
        KnowledgeBase(batch)  # duplicate ids within one import are an error, not a last-wins
        rows = []
        texts = [e.search_text() for e in batch]
        vectors = (
            self._embedding_cache.embed(self.embedder, texts)
            if self._embedding_cache is not None
            else self.embedder.embed(texts)
        )
        for entry, vector in zip(batch, vectors, strict=True):
            payload = entry.model_dump_json()
            if len(payload.encode("utf-8")) > _ENTRY_MAX_BYTES:
                raise KnowledgeBaseError(
                    f"entry '{entry.id}' is larger than {_ENTRY_MAX_BYTES} bytes; shorten it"
                )
            rows.append(
                {
                    "id": entry.id,
                    "vector": vector,
                    "text": entry.search_text(),
                    "title": entry.title,
                    "tags": entry.tags[:64],
                    "digest": entry_digest(entry),
                    "entry": payload,
                }
            )
        written = 0
        for start in range(0, len(rows), 500):
            written += self.collection.upsert(rows[start : start + 500])
        # unflushed rows are searched by Milvus Lite's slow path (0.5 s instead of 15 ms per
        # dense search at 10,000 entries) and are outside a server's HNSW index
        self.collection.flush()
        with self._lock:
            self._cache = None
        return written

    def sync(self, entries: Iterable[KnownError]) -> int:
        """Upsert only entries that are new or changed (by content digest).

        The stored copy's own examples and references (what ``plan_qa_import`` added to a
        shipped entry) are kept: a newer shipped version replaces the curated text, not what
        the KB learned."""
        current = self._indexed()
        changed = []
        for entry in entries:
            known = current.get(entry.id)
            if known is not None:
                entry = entry.extended(known.entry.examples, known.entry.references)
            if known is None or known.digest != entry_digest(entry):
                changed.append(entry)
        return self.upsert(changed)

    def delete(self, ids: Sequence[str]) -> int:
        deleted = self.collection.delete(ids=list(ids)) if ids else 0
        if deleted:
            self.collection.flush()
        with self._lock:
            self._cache = None
        return deleted

    # --- reads ------------------------------------------------------------------------------

    def _indexed(self) -> dict[str, _Indexed]:
        with self._lock:
            if self._cache is None:
                rows = self.collection.query(output_fields=["entry", "digest"], limit=_QUERY_LIMIT)
                cache: dict[str, _Indexed] = {}
                for row in rows:
                    entry = KnownError.model_validate_json(row["entry"])
                    pattern = entry.pattern
                    required = required_words(pattern) if pattern is not None else frozenset()
                    cache[entry.id] = _Indexed(entry, pattern, required, str(row["digest"]))
                self._cache = dict(sorted(cache.items()))
                self._traces = None
                self._texts = None
            return self._cache

    def _trace_index(self) -> TraceIndex:
        indexed = self._indexed()
        with self._lock:
            if self._traces is None:
                self._traces = TraceIndex(
                    (entry_id, text)
                    for entry_id, known in indexed.items()
                    for text in known.entry.examples
                )
            return self._traces

    def _text_index(self) -> TextIndex:
        indexed = self._indexed()
        with self._lock:
            if self._texts is None:
                self._texts = TextIndex(
                    (entry_id, known.entry.search_text()) for entry_id, known in indexed.items()
                )
            return self._texts

    def entries(self) -> list[KnownError]:
        return [i.entry for i in self._indexed().values()]

    def ids(self) -> list[str]:
        return list(self._indexed())

    def get(self, entry_id: str) -> KnownError | None:
        found = self._indexed().get(entry_id)
        return found.entry if found else None

    def count(self) -> int:
        return len(self._indexed())

    def stats(self) -> dict[str, Any]:
        """Counts for ``agent errors stats``: entries, per tag, documented vs imported."""
        entries = self.entries()
        tags: dict[str, int] = {}
        for entry in entries:
            for tag in entry.tags:
                tags[tag] = tags.get(tag, 0) + 1
        return {
            "entries": len(entries),
            "with_signature": sum(1 for e in entries if e.signature),
            "undocumented": tags.get(UNDOCUMENTED_TAG, 0),
            "store": self.store.uri,
            "engine": self.store.engine,
            "bm25": True,  # in memory (``agent.known_errors.bm25``), on any Milvus
            "tags": dict(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))),
        }

    # --- lookup -----------------------------------------------------------------------------

    def signature_matches(self, text: str) -> list[tuple[str, float, str]]:
        """(id, specificity, matched text) of every entry whose regex matches, best first."""
        scan = text[:SIGNATURE_SCAN_CHARS]
        words = text_words(scan)
        found: list[tuple[str, float, str]] = []
        for entry_id, indexed in self._indexed().items():
            if indexed.pattern is None or not indexed.required <= words:
                continue
            match = indexed.pattern.search(scan)
            if match:
                found.append((entry_id, float(specificity(match)), match.group(0).strip()))
        found.sort(key=lambda f: -f[1])
        return found

    def lookup(
        self, text: str, *, top_k: int = 5, signals: Sequence[Signal] = ALL_SIGNALS
    ) -> list[ErrorMatch]:
        """Known errors matching ``text``, best first (at most ``top_k``)."""
        return self.lookup_many([text], top_k=top_k, signals=signals)[0]

    def lookup_many(
        self, texts: Sequence[str], *, top_k: int = 5, signals: Sequence[Signal] = ALL_SIGNALS
    ) -> list[list[ErrorMatch]]:
        """``lookup`` for several inputs; embeddings and searches are batched."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        ranked = self.rank_signals(texts, signals=signals, candidates=max(top_k * 4, 20))
        indexed = self._indexed()
        out: list[list[ErrorMatch]] = []
        for rankings in ranked:
            matched_text = {eid: text for eid, _, text in rankings.matched_text}
            matches = []
            fused = rrf_fuse(rankings.for_fusion(), self.weights)
            for entry_id, score, evidence in fused[:top_k]:
                known = indexed.get(entry_id)
                if known is None:  # deleted since the cache was read
                    continue
                matches.append(
                    ErrorMatch(
                        id=entry_id,
                        title=known.entry.title,
                        score=round(score, 6),
                        matched_by=[s for s in ALL_SIGNALS if s in evidence],
                        signals=evidence,
                        matched_text=matched_text.get(entry_id),
                        entry=known.entry,
                    )
                )
            out.append(matches)
        return out

    def rank_signals(
        self,
        texts: Sequence[str],
        *,
        signals: Sequence[Signal] = ALL_SIGNALS,
        candidates: int = 20,
        complete: bool = False,
    ) -> list[Rankings]:
        """Each signal's ranking (id, raw score) of up to ``candidates`` entries, per input,
        before fusion (``lookup_many`` fuses them; the benchmark compares them). The dense
        signal is computed only where fusion uses it (``Rankings.for_fusion``), unless
        ``complete`` (the benchmark's per-signal baselines)."""
        unknown = set(signals) - set(ALL_SIGNALS)
        if unknown or not signals:
            raise ValueError(f"signals must be a non-empty subset of {ALL_SIGNALS}")
        out = [Rankings() for _ in texts]
        if not texts or not self._indexed():
            return out
        reduced = [reduce_log(t) for t in texts]
        parsed = [parse_trace(t) for t in texts]
        if "trace" in signals and any(parsed):
            traces = self._trace_index()
            covered = traces.entry_ids()
            for i, text in enumerate(texts):
                if parsed[i] is not None and covered:
                    ranked = traces.rank(text, limit=candidates, trace=parsed[i])
                    out[i].per_signal["trace"] = ranked
                    out[i].trace_covered = covered
        if "signature" in signals:
            for i, text in enumerate(texts):
                found = self.signature_matches(text)
                out[i].per_signal["signature"] = [(eid, spec) for eid, spec, _ in found]
                out[i].matched_text = found
        for i in range(len(texts)):
            out[i].structured = parsed[i] is not None or bool(out[i].matched_text)
        # BM25 and dense only for inputs where they can rank something: not for a trace when
        # every entry is judged by the trace signal (``Rankings.for_fusion``)
        everything = len(self._indexed())
        retrieve = [i for i in range(len(texts)) if len(out[i].trace_covered) < everything]
        if "bm25" in signals and retrieve:
            words = self._text_index()
            for i in retrieve:
                out[i].per_signal["bm25"] = words.rank(
                    reduced[i].text, limit=candidates, skip=out[i].trace_covered
                )
        embed = [i for i in retrieve if complete or not out[i].structured]
        if "dense" in signals and embed:
            vectors = self.embedder.embed([reduced[i].headline or reduced[i].text for i in embed])
            hits = self.collection.search_many(
                vectors, top_k=candidates, output_fields=[], mode="dense"
            )
            for i, per_query in zip(embed, hits, strict=True):
                out[i].per_signal["dense"] = [(h.id, h.score) for h in per_query]
        return out

    async def alookup(
        self, text: str, *, top_k: int = 5, signals: Sequence[Signal] = ALL_SIGNALS
    ) -> list[ErrorMatch]:
        return await asyncio.to_thread(self.lookup, text, top_k=top_k, signals=signals)

    # --- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        if self._embedding_cache is not None and self._owns_cache:
            self._embedding_cache.close()
        if self._owns_store:
            self.store.close()
