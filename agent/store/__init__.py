"""The vector store: Milvus (a Lite file or a server) behind one generic layer, and embeddings.

``VectorStore`` opens a connection and hands out typed ``Collection``\\ s described by a
``CollectionSpec`` of ``FieldSpec``\\ s; searches return ``Hit``\\ s and filter with the safe
expression builders (``eq``, ``one_of``, ``has_any``, ``all_of``, ``literal``). ``Embedder`` (local
model or an OpenAI-compatible endpoint, chosen by ``make_embedder``) turns text into vectors, and
``EmbeddingCache`` keeps document vectors across processes. The document corpus (``agent.rag``)
and the known-errors base (``agent.known_errors``) both build on this package.
"""

from agent.store._milvus_collection import Collection
from agent.store._milvus_filters import all_of, eq, has_any, literal, one_of
from agent.store._milvus_lite import is_lite_uri
from agent.store._milvus_types import (
    CollectionSpec,
    Consistency,
    FieldKind,
    FieldSpec,
    Hit,
    SearchMode,
)
from agent.store.embedding_cache import EmbeddingCache
from agent.store.embeddings import (
    Embedder,
    LocalEmbedder,
    OpenAIEmbedder,
    Vectors,
    make_embedder,
)
from agent.store.vectorstore import VectorStore

__all__ = [
    "Collection",
    "CollectionSpec",
    "Consistency",
    "EmbeddingCache",
    "Embedder",
    "FieldKind",
    "FieldSpec",
    "Hit",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "SearchMode",
    "Vectors",
    "VectorStore",
    "all_of",
    "eq",
    "has_any",
    "is_lite_uri",
    "literal",
    "make_embedder",
    "one_of",
]
