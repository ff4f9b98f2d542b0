"""A persistent cache of document embeddings, keyed by model and text.

Seeding a new known-error store embeds ~160 entries: ~20 s on two busy cores, paid again by
every fresh data dir (each test, each new MCP server). The vectors depend only on the model and
the text, so they are kept in ``CACHE_DIR/embeddings.sqlite`` (WAL mode: several processes may
share it). Only document vectors go through here; queries are embedded fresh.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.store.embeddings import Embedder, Vectors


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)"
        )
        self._db.commit()

    @staticmethod
    def _key(model: str, text: str) -> str:
        return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()

    def embed(self, embedder: Embedder, texts: Sequence[str]) -> Vectors:
        """``embedder.embed(texts)``, computing only the vectors not cached yet."""
        keys = [self._key(embedder.model, t) for t in texts]
        found: dict[str, Vectors] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, dim, data in self._db.execute(
                f"SELECT key, dim, data FROM vectors WHERE key IN ({marks})", chunk
            ):
                found[key] = np.frombuffer(data, dtype=np.float32).reshape(dim)
        missing = sorted({i for i, k in enumerate(keys) if k not in found})
        if missing:
            fresh = embedder.embed([texts[i] for i in missing])
            rows = []
            for i, vector in zip(missing, fresh, strict=True):
                found[keys[i]] = vector
                rows.append((keys[i], int(vector.shape[0]), vector.astype(np.float32).tobytes()))
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            self._db.commit()
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        out: Vectors = np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
        return out

    def close(self) -> None:
        self._db.close()
