"""The document corpus behind ``rag_search``: read files, chunk them, embed and search them.

``DocumentStore`` ingests files (.md .txt .rst .html .pdf) into a collection of the vector store
(``agent.store``), skipping unchanged ones, and searches their chunks by meaning and words. The
CLI front end is ``agent docs``. Not to be confused with the known-errors base
(``agent.known_errors``), which is a separate, curated collection.
"""

from agent.rag._chunking import Chunk, chunk_text
from agent.rag._reports import DocumentStats, IngestReport, SourceInfo
from agent.rag.documents import DocumentStore, ProgressFn

__all__ = [
    "Chunk",
    "DocumentStats",
    "DocumentStore",
    "IngestReport",
    "ProgressFn",
    "SourceInfo",
    "chunk_text",
]
