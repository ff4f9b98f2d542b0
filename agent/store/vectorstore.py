"""The vector store: one generic layer over pymilvus ``MilvusClient`` for every collection we keep.

The URI decides the engine, with no code change: a local path (``.agent/milvus.db``) is Milvus
Lite, in this process; ``http(s)://host:19530`` is a Milvus server or cluster. Every collection has
three fixed fields and any number of declared top-level scalar fields (JSON-path filters are very
slow on Lite, so metadata you filter on must be a declared field)::

    id      VARCHAR primary key (you choose it: make it a content hash to de-duplicate)
    vector  FLOAT_VECTOR(dim), HNSW index, COSINE metric
    text    VARCHAR with an analyzer; on engines with BM25 (Milvus Lite 3.x, Milvus >= 2.5) a BM25
            function fills a hidden ``sparse`` field and searches are hybrid (dense + BM25, RRF)

Usage::

    from agent.store import CollectionSpec, FieldSpec, VectorStore, all_of, eq, has_any

    spec = CollectionSpec(
        name="mcp-errors",
        dim=384,
        fields=(FieldSpec("title", "str", max_length=512), FieldSpec("tags", "str_list")),
    )
    with VectorStore(settings.store_uri) as store:       # StoreLockedError if another process
        errors = store.collection(spec)                  # holds the Lite file; created or checked
        errors.upsert([{"id": "E1", "vector": vec, "text": "...", "title": "...", "tags": ["x"]}])
        errors.flush()                                   # after bulk writes (see flush())
        hits = errors.search(vec, text="ECONNREFUSED", top_k=5,
                             filter=all_of(eq("title", "t"), has_any("tags", ["x"])))
        for hit in hits:
            print(hit.id, hit.score, hit.text, hit.fields["title"])

``Collection`` also has ``insert`` (new ids only, ~1.7x faster than ``upsert``), ``delete(ids=,
filter=)``, ``count(filter)``, ``query(filter, output_fields=, limit=)``, ``get(ids)`` and
``search_many(vectors, texts=)`` (a batch in one round trip). ``mode`` picks the search: ``auto``
(hybrid when the collection has BM25 and a text is given, else dense), ``dense``, ``hybrid``,
``bm25``. Hit scores: cosine similarity (dense), RRF score (hybrid, ~0.01-0.03), BM25 score
(Lite reports it negated). Fields in ``Hit.fields`` are the declared ones unless
``output_fields`` says otherwise.

An existing collection whose fields or dimension differ from the spec raises
``SchemaMismatchError`` (never silent corruption). A Lite file open in another process raises
``StoreLockedError`` naming the fixes. ``close()`` on the last store of a Lite file in this
process releases the file. Every call blocks on gRPC: async callers run it in a worker thread
(``asyncio.to_thread``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Literal

from agent.closing import Closing
from agent.errors import SchemaMismatchError, StoreError
from agent.store._milvus_collection import Collection
from agent.store._milvus_lite import is_lite_uri, lite_is_locked_elsewhere, lite_path, locked_error
from agent.store._milvus_types import CollectionSpec, Consistency

__all__ = ["VectorStore"]

log = logging.getLogger(__name__)

# --- the engine -------------------------------------------------------------------------------

_lite_refs: dict[str, int] = {}
_lite_refs_lock = threading.Lock()
_logged_dense_only: set[str] = set()


def _parse_version(text: str) -> tuple[int, int] | None:
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


class VectorStore(Closing):
    """A connection to Milvus (Lite file or server). Thread-safe; close it when done."""

    def __init__(
        self,
        uri: str | Path,
        *,
        token: str = "",
        timeout_s: float | None = 30.0,
        hybrid: bool | None = None,
    ) -> None:
        if is_lite_uri(str(uri)):
            # Lite's in-process gRPC server answers pymilvus' keepalive pings with GOAWAY
            # "too_many_pings", which grpc's C core prints to stderr; the client just reconnects.
            # (Read when grpc is first imported, so this only helps if that is still to come.)
            os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        from pymilvus import MilvusClient, MilvusException

        self.uri = str(uri)
        self.timeout_s = timeout_s
        self._lite_path: str | None = None
        connect_uri = self.uri
        if is_lite_uri(self.uri):
            if not self.uri.endswith(".db"):
                raise StoreError(
                    f"Milvus URI {self.uri!r}: a local Milvus Lite database must end in .db "
                    "(e.g. .agent/milvus.db); a server URI starts with http:// or https://"
                )
            path = lite_path(self.uri)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if Path(path).exists() and not Path(path).is_dir():
                # Milvus Lite keeps a directory there; on a file it logs a traceback and fails
                raise StoreError(
                    f"{path} is not a Milvus Lite store: it is a file, where Milvus Lite keeps a "
                    "directory. Move it away (the store is then created empty) or point "
                    "AGENT_MILVUS_URI elsewhere"
                )
            if lite_is_locked_elsewhere(path):
                raise locked_error(path)
            self._lite_path = connect_uri = path
        try:
            self._client = MilvusClient(uri=connect_uri, token=token, timeout=timeout_s)
            self.server_version = str(self._client.get_server_version())
        except MilvusException as exc:
            if self._lite_path and lite_is_locked_elsewhere(self._lite_path):
                raise locked_error(self._lite_path) from None
            raise StoreError(f"cannot connect to Milvus at {self.uri}: {exc}") from exc
        if self._lite_path:
            with _lite_refs_lock:
                _lite_refs[self._lite_path] = _lite_refs.get(self._lite_path, 0) + 1
        self.engine: Literal["lite", "server"] = (
            "lite" if "milvus_lite" in self.server_version or self._lite_path else "server"
        )
        self.bm25_supported = self._detect_bm25() if hybrid is None else hybrid
        self._closed = False

    def _detect_bm25(self) -> bool:
        version = _parse_version(self.server_version)
        if self.engine == "lite":
            supported = version is not None and version >= (3, 0)
        else:
            supported = version is not None and version >= (2, 5)
        if not supported and self.uri not in _logged_dense_only:
            _logged_dense_only.add(self.uri)
            log.info(
                "Milvus at %s (version %s) has no BM25: searches are dense-only (hybrid search "
                "needs Milvus Lite 3.x or Milvus >= 2.5)",
                self.uri,
                self.server_version,
            )
        return supported

    @classmethod
    def from_settings(cls, settings: Any) -> VectorStore:
        """Connect using ``settings.store_uri`` / ``settings.milvus_token``."""
        token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
        return cls(settings.store_uri, token=token, timeout_s=settings.milvus_timeout_s)

    # --- collections ---------------------------------------------------------------------------

    def has_collection(self, name: str) -> bool:
        return bool(self._call("has_collection", name))

    def list_collections(self) -> list[str]:
        return list(self._call("list_collections"))

    def drop_collection(self, name: str) -> None:
        if self.has_collection(name):
            self._call("drop_collection", name)

    def collection(
        self, spec: CollectionSpec, *, create: bool = True, consistency: Consistency = "Session"
    ) -> Collection:
        """The collection for ``spec``: created if missing (unless ``create=False``), else
        checked against it (``SchemaMismatchError`` on any difference) and loaded.

        ``consistency`` applies to searches. ``Session`` (default) sees this process' inserts at
        once and other writes within about a second; ``Strong`` sees every write but costs a
        server 0.2-0.4 s per search (it waits for the next time tick). ``count``, ``query`` and
        ``get`` are always ``Strong``: they serve bookkeeping that must see deletes at once."""
        from agent.store._milvus_schema import build_schema, check_schema

        if self.has_collection(spec.name):
            described = self._call("describe_collection", spec.name)
            hybrid = check_schema(spec, described, uri=self.uri)
            if hybrid and not self.bm25_supported:
                raise SchemaMismatchError(
                    f"collection {spec.name!r} at {self.uri} has a BM25 function this engine "
                    f"({self.server_version}) cannot run"
                )
            self._call("load_collection", spec.name)
        elif not create:
            raise StoreError(f"collection {spec.name!r} does not exist at {self.uri}")
        else:
            hybrid = self.bm25_supported
            schema, index_params = build_schema(self._client, spec, bm25=hybrid)
            self._call("create_collection", spec.name, schema=schema, consistency_level="Strong")
            # sync=False: waiting for an index on an empty collection needs AllocTimestamp,
            # which Lite lacks (its gRPC server logs an error per call).
            self._call("create_index", spec.name, index_params, sync=False)
            self._call("load_collection", spec.name)
            log.debug("created collection %s at %s (hybrid=%s)", spec.name, self.uri, hybrid)
        return Collection(self._call, spec, uri=self.uri, hybrid=hybrid, consistency=consistency)

    # --- plumbing --------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from pymilvus import MilvusException

        if getattr(self, "_closed", False):
            raise StoreError(f"the vector store at {self.uri} is closed")
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except MilvusException as exc:
            raise StoreError(f"Milvus {method} failed at {self.uri}: {exc.message}") from exc

    def close(self) -> None:
        """Close the connection; the last store on a Lite file also releases its lock."""
        if self._closed:
            return
        self._closed = True
        self._client.close()
        if self._lite_path:
            with _lite_refs_lock:
                left = _lite_refs.get(self._lite_path, 1) - 1
                if left > 0:
                    _lite_refs[self._lite_path] = left
                    return
                _lite_refs.pop(self._lite_path, None)
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self._lite_path)
