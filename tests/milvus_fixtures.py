"""Pytest plugin: Milvus Lite in a temp dir, a real Milvus 2.3.5 server, the embedding model.

* ``lite_uri``: a fresh Milvus Lite database path under ``tmp_path``.
* ``milvus_server_uri`` (session): ``http://127.0.0.1:PORT`` of a Milvus standalone server from
  PyPI ``milvus==2.3.5``, started once per session on a free port in a temp base dir (3.5-9 s);
  tests using it carry ``@pytest.mark.milvus_server``. That server has no BM25: dense only.
* ``embedder`` (session): the local all-MiniLM-L6-v2, loaded once.
* ``documents``: a ``DocumentStore`` on ``lite_uri`` with that embedder (400-token chunks).
"""

from __future__ import annotations

import gc
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.rag import DocumentStore
from agent.store import LocalEmbedder, VectorStore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def lite_uri(tmp_path: Path) -> str:
    return str(tmp_path / "milvus.db")


@pytest.fixture(scope="session")
def milvus_server_uri() -> Iterator[str]:
    from milvus import default_server

    base = tempfile.mkdtemp(prefix="milvus-server-")
    default_server.set_base_dir(base)
    default_server.listen_port = _free_port()
    with warnings.catch_warnings():
        # its port probing leaks a socket whenever a default port is taken (another server)
        warnings.simplefilter("ignore", ResourceWarning)
        default_server.start()
        gc.collect()
    try:
        yield f"http://127.0.0.1:{default_server.listen_port}"
    finally:
        default_server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    model = LocalEmbedder(batch_size=32)
    model.load()
    return model


@pytest.fixture
def documents(lite_uri: str, embedder: LocalEmbedder) -> Iterator[DocumentStore]:
    with VectorStore(lite_uri) as store:
        yield DocumentStore(store, embedder, chunk_size=400, chunk_overlap=60)
