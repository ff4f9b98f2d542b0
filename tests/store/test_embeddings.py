"""Embeddings: the real local model, and the OpenAI-compatible backend against a real HTTP
server on loopback (faked at the wire, as the LLM is)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from agent.errors import ConfigError, EmbeddingError
from agent.settings import Settings
from agent.store import LocalEmbedder, OpenAIEmbedder, make_embedder


def test_local_model_vectors_are_normalized_and_meaningful(embedder: LocalEmbedder) -> None:
    texts = [
        "How do I restart the database server?",
        "Steps to reboot the DB service",
        "Cats sleep for most of the day.",
    ]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    related, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert related > 0.5 > unrelated
    assert embedder.embed([]).shape == (0, 384)
    assert np.allclose(embedder.embed_query(texts[2]), vectors[2], atol=1e-5)


async def test_local_embedding_does_not_block_the_event_loop(embedder: LocalEmbedder) -> None:
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    vectors = await embedder.aembed([f"sentence number {i} about embeddings" for i in range(64)])
    elapsed = time.perf_counter() - started
    done.set()
    await task
    assert vectors.shape == (64, 384)
    # the loop kept ticking while the model worked (a blocked loop would tick once)
    assert ticks >= max(3, int(elapsed / 0.01 * 0.2))


class _EmbeddingsHandler(BaseHTTPRequestHandler):
    server: _EmbeddingsServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        status, payload = self.server.answer(body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _EmbeddingsServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EmbeddingsHandler)
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.dim = 3

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.status != 200:
            return self.status, {"error": {"message": "model not loaded"}}
        # unnormalized vectors, sent in reverse order: the client must sort by index
        data = [
            {
                "index": i,
                "embedding": [float(len(text)), 1.0, 0.0, 0.0][: self.dim],
                "object": "embedding",
            }
            for i, text in enumerate(body["input"])
        ]
        return 200, {"object": "list", "data": data[::-1], "model": body["model"]}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def embeddings_server() -> Iterator[_EmbeddingsServer]:
    server = _EmbeddingsServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_openai_backend_batches_orders_and_normalizes(
    embeddings_server: _EmbeddingsServer,
) -> None:
    settings = Settings.load(
        embedding_backend="openai",
        embedding_url=embeddings_server.url,
        embedding_model="bge-small",
        embedding_batch_size=2,
        embedding_api_key="sk-test",
    )
    embedder = make_embedder(settings)
    try:
        vectors = embedder.embed(["a", "bbb", "cc"])
        assert embedder.dim == 3
    finally:
        embedder.close()
    assert vectors.shape == (3, 3)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[1] == pytest.approx(np.array([3.0, 1.0, 0.0]) / np.sqrt(10), abs=1e-6)
    posted = [r["body"]["input"] for r in embeddings_server.requests]
    assert posted == [["a", "bbb"], ["cc"]]
    assert {r["path"] for r in embeddings_server.requests} == {"/v1/embeddings"}
    assert embeddings_server.requests[0]["body"]["model"] == "bge-small"
    assert embeddings_server.requests[0]["auth"] == "Bearer sk-test"


def test_openai_backend_errors_name_the_endpoint(embeddings_server: _EmbeddingsServer) -> None:
    embedder = OpenAIEmbedder(embeddings_server.url, "m", dim=5)
    try:
        with pytest.raises(EmbeddingError, match="3 dimensions, expected 5"):
            embedder.embed(["x"])
        embeddings_server.status = 404
        with pytest.raises(EmbeddingError, match=r"/v1/embeddings answered 404.*not loaded"):
            embedder.embed(["x"])
    finally:
        embedder.close()
    down = OpenAIEmbedder("http://127.0.0.1:9/v1", "m")
    try:
        with pytest.raises(EmbeddingError, match="127.0.0.1:9/v1/embeddings failed"):
            down.embed(["x"])
    finally:
        down.close()


def test_openai_backend_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="AGENT_EMBEDDING_URL"):
        make_embedder(Settings.load(embedding_backend="openai"))
    with pytest.raises(ConfigError, match="http://"):
        OpenAIEmbedder("localhost:8000/v1", "m")
