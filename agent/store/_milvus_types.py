"""The declarations the vector store works with: field and collection specs, hits, names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.errors import StoreError

FieldKind = Literal["str", "int", "float", "bool", "str_list", "json"]
SearchMode = Literal["auto", "dense", "hybrid", "bm25"]
Consistency = Literal["Strong", "Session", "Bounded", "Eventually"]

ID_FIELD = "id"
VECTOR_FIELD = "vector"
TEXT_FIELD = "text"
SPARSE_FIELD = "sparse"
_RESERVED = {ID_FIELD, VECTOR_FIELD, TEXT_FIELD, SPARSE_FIELD}
_VARCHAR_MAX = 65535
RRF_K = 60


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A top-level scalar field. ``max_length`` is in UTF-8 bytes (Milvus counts bytes)."""

    name: str
    kind: FieldKind
    max_length: int = 1024
    max_items: int = 64
    description: str = ""

    def default(self) -> Any:
        return {"str": "", "int": 0, "float": 0.0, "bool": False, "str_list": [], "json": {}}[
            self.kind
        ]


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """What a collection must look like: its name, vector dimension and scalar fields."""

    name: str
    dim: int
    fields: tuple[FieldSpec, ...] = ()
    text_max_length: int = _VARCHAR_MAX
    id_max_length: int = 128
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    description: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]{0,254}", self.name):
            raise StoreError(f"invalid collection name {self.name!r}: letters, digits, _ and -")
        for f in self.fields:
            if f.name in _RESERVED:
                raise StoreError(f"field name {f.name!r} is reserved ({sorted(_RESERVED)})")


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result. ``score``: cosine similarity (dense) or the RRF score (hybrid)."""

    id: str
    score: float
    text: str
    fields: dict[str, Any] = field(default_factory=dict)
