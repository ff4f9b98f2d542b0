"""``Collection``: reads and writes on one collection of a ``VectorStore``.

A collection is given the one thing it needs from its store, a ``MilvusCall`` (run a
``MilvusClient`` method, turning its errors into ``StoreError``), so it depends on no store
internals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from agent.errors import StoreError
from agent.store._milvus_types import (
    ID_FIELD,
    RRF_K,
    SPARSE_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    CollectionSpec,
    Consistency,
    Hit,
    SearchMode,
)
from agent.store.embeddings import normalize


class MilvusCall(Protocol):
    """Runs ``MilvusClient.<method>(*args, **kwargs)`` for a store; raises ``StoreError``."""

    def __call__(self, method: str, /, *args: Any, **kwargs: Any) -> Any: ...


class Collection:
    """One collection of a ``VectorStore``. Get it with ``VectorStore.collection(spec)``."""

    def __init__(
        self,
        call: MilvusCall,
        spec: CollectionSpec,
        *,
        uri: str,
        hybrid: bool,
        consistency: Consistency = "Session",
    ) -> None:
        self._call = call
        self.uri = uri
        self.consistency = consistency
        self.spec = spec
        self.name = spec.name
        self.hybrid = hybrid
        self._field_names = [f.name for f in spec.fields]

    # --- writes ----------------------------------------------------------------------------------

    def upsert(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert or replace rows by ``id``. Missing scalar fields get their kind's default."""
        if not rows:
            return 0
        from agent.store._milvus_schema import prepare_row

        prepared = [prepare_row(self.spec, row) for row in rows]
        result = self._call("upsert", self.name, prepared)
        return int(result.get("upsert_count", len(prepared)))

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert rows whose ids are new (faster than ``upsert``; an existing id would be
        stored twice, so use ``upsert`` unless you know)."""
        if not rows:
            return 0
        from agent.store._milvus_schema import prepare_row

        prepared = [prepare_row(self.spec, row) for row in rows]
        result = self._call("insert", self.name, prepared)
        return int(result.get("insert_count", len(prepared)))

    def delete(self, *, ids: Sequence[str] | None = None, filter: str = "") -> int:
        """Delete by ids or by filter expression; returns how many rows matched."""
        if not ids and not filter:
            return 0
        result = self._call("delete", self.name, ids=list(ids) if ids else None, filter=filter)
        if isinstance(result, dict):
            return int(result.get("delete_count", 0))
        return len(result)

    def flush(self) -> None:
        """Persist buffered rows and seal segments. Call it after a bulk write: on Lite,
        unflushed rows are searched by a slow path (~1 s per query at 10k rows vs ~60 ms
        flushed); on a server it lets the HNSW index cover them."""
        self._call("flush", self.name)

    # --- reads -----------------------------------------------------------------------------------

    def count(self, filter: str = "") -> int:
        rows = self._call(
            "query",
            self.name,
            filter=filter,
            output_fields=["count(*)"],
            consistency_level="Strong",
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def query(
        self,
        filter: str = "",
        *,
        output_fields: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rows matching ``filter`` (all rows if empty; give a ``limit`` then)."""
        fields = list(output_fields) if output_fields is not None else self._default_outputs()
        kwargs: dict[str, Any] = {
            "filter": filter,
            "output_fields": fields,
            "consistency_level": "Strong",
        }
        if limit is not None:
            kwargs["limit"] = limit
        if not filter:
            kwargs["filter"] = f'{ID_FIELD} != ""'
        return [dict(r) for r in self._call("query", self.name, **kwargs)]

    def get(
        self, ids: Sequence[str], *, output_fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        if not ids:
            return []
        fields = list(output_fields) if output_fields is not None else self._default_outputs()
        rows = self._call(
            "get",
            self.name,
            ids=list(ids),
            output_fields=fields,
            consistency_level="Strong",
        )
        return [dict(r) for r in rows]

    def search(
        self,
        vector: Sequence[float] | Any,
        *,
        text: str | None = None,
        top_k: int = 5,
        filter: str = "",
        output_fields: Sequence[str] | None = None,
        mode: SearchMode = "auto",
        cosine: bool = False,
    ) -> list[Hit]:
        """Nearest rows to ``vector``; hybrid with BM25 on ``text`` where the collection has it.
        ``cosine``: also put each hit's cosine similarity to ``vector`` in ``fields["cosine"]``
        (a hybrid or BM25 score is a rank, not a closeness)."""
        texts = [text] if text is not None else None
        return self.search_many(
            [vector],
            texts=texts,
            top_k=top_k,
            filter=filter,
            output_fields=output_fields,
            mode=mode,
            cosine=cosine,
        )[0]

    def search_many(
        self,
        vectors: Sequence[Sequence[float]] | Any,
        *,
        texts: Sequence[str] | None = None,
        top_k: int = 5,
        filter: str = "",
        output_fields: Sequence[str] | None = None,
        mode: SearchMode = "auto",
        cosine: bool = False,
    ) -> list[list[Hit]]:
        """One result list per query vector (a batch is one round trip); ``cosine`` as in
        ``search``."""
        from pymilvus import AnnSearchRequest, RRFRanker

        if top_k < 1:
            raise StoreError(f"top_k must be >= 1, got {top_k}")
        vectors = [list(map(float, v)) if not hasattr(v, "tolist") else v.tolist() for v in vectors]
        if not vectors:
            return []
        fields = list(output_fields) if output_fields is not None else self._default_outputs()
        if cosine:
            fields.append(VECTOR_FIELD)
        use_hybrid = mode != "dense" and self.hybrid and texts is not None
        if mode == "bm25":  # BM25 alone (baselines, per-signal ranks); Lite reports -score
            if not use_hybrid:
                raise StoreError(
                    f"BM25 search needs query texts and a BM25 collection "
                    f"({self.name!r} at {self.uri})"
                )
            assert texts is not None
            raw = self._call(
                "search",
                self.name,
                list(texts),
                filter=filter,
                limit=top_k,
                output_fields=fields,
                anns_field=SPARSE_FIELD,
                search_params={"metric_type": "BM25"},
                consistency_level=self.consistency,
            )
            return _hits(raw, vectors if cosine else None)
        if mode == "hybrid" and not use_hybrid:
            raise StoreError(
                f"hybrid search needs query texts and a BM25 collection; {self.name!r} at "
                f"{self.uri} is {'hybrid' if self.hybrid else 'dense-only'}"
            )
        if use_hybrid:
            assert texts is not None
            if len(texts) != len(vectors):
                raise StoreError("search_many: texts and vectors differ in length")
            candidates = max(top_k * 4, 20)
            dense = AnnSearchRequest(
                vectors,
                VECTOR_FIELD,
                {"metric_type": "COSINE"},
                limit=candidates,
                expr=filter or None,
            )
            sparse = AnnSearchRequest(
                list(texts),
                SPARSE_FIELD,
                {"metric_type": "BM25"},
                limit=candidates,
                expr=filter or None,
            )
            raw = self._call(
                "hybrid_search",
                self.name,
                [dense, sparse],
                RRFRanker(RRF_K),
                limit=top_k,
                output_fields=fields,
                consistency_level=self.consistency,
            )
        else:
            raw = self._call(
                "search",
                self.name,
                vectors,
                filter=filter,
                limit=top_k,
                output_fields=fields,
                anns_field=VECTOR_FIELD,
                search_params={"metric_type": "COSINE", "params": {"ef": max(64, top_k)}},
                consistency_level=self.consistency,
            )
        return _hits(raw, vectors if cosine else None)

    def _default_outputs(self) -> list[str]:
        return [TEXT_FIELD, *self._field_names]


def _hits(raw: Sequence[Sequence[Mapping[str, Any]]], queries: list[Any] | None) -> list[list[Hit]]:
    """Hits per query; with ``queries`` (their vectors), each hit's returned vector becomes its
    cosine similarity to the query, ``fields["cosine"]``."""
    found = [[_hit(h) for h in per_query] for per_query in raw]
    for query, hits in zip(queries or [], found, strict=False):
        if hits:
            stored = normalize(np.array([h.fields.pop(VECTOR_FIELD) for h in hits]))
            for hit, cosine in zip(hits, stored @ normalize(np.array([query]))[0], strict=True):
                hit.fields["cosine"] = float(cosine)
    return found


def _hit(raw: Mapping[str, Any]) -> Hit:
    entity = dict(raw.get("entity") or {})
    text = str(entity.pop(TEXT_FIELD, ""))
    entity.pop(ID_FIELD, None)
    return Hit(
        id=str(raw.get("id", "")), score=float(raw.get("distance", 0.0)), text=text, fields=entity
    )
