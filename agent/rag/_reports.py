"""What the document store reports: an ingest's counts, the ingested files, its size."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IngestReport:
    """What one ``DocumentStore.ingest`` did, file by file and chunk by chunk."""

    files_added: int = 0
    files_replaced: int = 0
    files_unchanged: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_reused: int = 0  # of a changed file, chunks whose text (so vector) did not change
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def chunks_per_s(self) -> float:
        return self.chunks_added / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class SourceInfo:
    """One ingested file: its source label, path, title and chunk count."""

    source: str
    path: str
    title: str
    chunks: int
    ingested_at: int


@dataclass(frozen=True)
class DocumentStats:
    """Where the documents live and how many there are."""

    uri: str
    engine: str
    collection: str
    hybrid: bool
    chunks: int
    documents: int
    sources: int
    embedding_model: str
    dim: int
