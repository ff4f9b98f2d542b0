"""The ``rag_search`` tool: search the ingested documents (``agent docs add``) by meaning and words.

Returns the best chunks with where they came from (file, source label, section), best first,
trimmed to a token budget (``AGENT_RAG_MAX_TOKENS``). The tool is marked ``untrusted_output``,
so the runtime frames its text as data (``agent.text.frame_untrusted``): a document that says
"ignore previous instructions" is quoted, not obeyed, and cannot close the frame early.

Searches are hybrid (dense + BM25, fused with RRF; the score is then an RRF score, ~0.01-0.03)
where the engine has BM25, else dense (the score is the cosine similarity).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.errors import ToolError
from agent.rag import DocumentStore
from agent.settings import Settings
from agent.store import Hit
from agent.text import clip, frame_untrusted
from agent.tooling import FunctionTool, Sourced, ToolOutput

HEADER = "Excerpts from the user's documents, best first. Cite the file of what you use."
_MIN_PARTIAL_TOKENS = 60
# An excerpt shown by the prefetch must be this close in meaning to the question (cosine), even
# when BM25 ranks it high: a shared stop word is not relevance. Unrelated text scores below
# ~0.2 with the default embedder (bench/prefetch_gate.py: GSM8K questions against the Node.js
# docs, median 0.18).
PREFETCH_FLOOR = 0.25


class RagSearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1,
        max_length=1000,
        description="What to look for, as a question or key words (error codes work too)",
    )
    top_k: int = Field(5, ge=1, le=20, description="How many excerpts to return (1-20)")
    source: str | None = Field(
        None, max_length=512, description="Only search documents ingested with this source label"
    )
    tags: list[str] | None = Field(
        None, max_length=10, description="Only search documents carrying any of these tags"
    )


def estimate_tokens(text: str) -> int:
    """About 4 characters per token for English prose (no tokenizer download needed)."""
    return (len(text) + 3) // 4


# what the data frame the runtime puts around this tool's output costs (its length is fixed)
_FRAME_TOKENS = (len(frame_untrusted("", source="rag_search")) + 3) // 4


def excerpt_label(fields: Mapping[str, Any]) -> str:
    """Where an excerpt comes from, as the model is shown it: the file (relative to the working
    directory when under it, else its name), the source label when one was given at ingest,
    and the heading path. The model cites what it sees; a search score or a chunk number is
    nothing to cite, and only more numbers for a small model to misread as data."""
    path = str(fields.get("path") or "")
    label = f"file: {_file(path)}"
    source = str(fields.get("source") or "")
    added_as = Path(source).parts  # the default label: the path as given to `agent docs add`
    if source and Path(path).parts[-len(added_as) :] != added_as:
        label += f" | source: {source}"
    if fields.get("section"):
        label += f" | section: {fields['section']}"
    return label


def _file(path: str) -> str:
    """A file as the model and the user are shown it: relative to the working directory when
    under it, else its name."""
    try:
        return str(Path(path).relative_to(Path.cwd())) if path else "?"
    except ValueError:
        return Path(path).name


def excerpt_source(fields: Mapping[str, Any]) -> str:
    """An excerpt's entry in ``RunResult.sources``: its file, and the heading path it is under
    ("guide.md (Deploys > Rollback)")."""
    file = _file(str(fields.get("path") or ""))
    return f"{file} ({fields['section']})" if fields.get("section") else file


def format_hits(query: str, hits: Sequence[Hit], *, max_tokens: int) -> Sourced:
    """The tool message: attributed excerpts, cut to ``max_tokens`` (the data frame included),
    with the sources of the excerpts it shows."""
    if not hits:
        return Sourced(f'No documents matched "{query}" in the knowledge base.')
    header = f"{HEADER}\n"
    budget = max_tokens - estimate_tokens(header) - _FRAME_TOKENS - 20
    parts: list[str] = []
    shown = 0
    for n, hit in enumerate(hits, start=1):
        meta = f"[{n}] {excerpt_label(hit.fields)}"
        body = hit.text
        cost = estimate_tokens(meta) + estimate_tokens(body) + 2
        if cost > budget:
            room = (budget - estimate_tokens(meta) - 2) * 4
            if room >= _MIN_PARTIAL_TOKENS * 4:
                parts.append(f"{meta}\n{clip(body, room, marker=' […]')}")
                shown += 1
            break
        parts.append(f"{meta}\n{body}")
        budget -= cost
        shown += 1
    omitted = len(hits) - shown
    tail = f"\n({omitted} more excerpts left out to fit the token budget)" if omitted else ""
    sources = dict.fromkeys(excerpt_source(h.fields) for h in hits[:shown])
    return Sourced(header + "\n\n".join(parts) + tail, tuple(sources))


class RagSearchTool(FunctionTool[RagSearchArgs]):
    """``rag_search``, plus ``prefetch``: the same search made by the runtime for a question."""

    def __init__(
        self,
        fn: Callable[[RagSearchArgs], Awaitable[ToolOutput]],
        args_model: type[RagSearchArgs],
        *,
        prefetch: Callable[[str], Awaitable[Sourced | None]],
        **kwargs: Any,
    ) -> None:
        super().__init__(fn, args_model, **kwargs)
        self.prefetch = prefetch


def make_rag_search_tool(
    settings: Settings | None = None,
    *,
    documents: DocumentStore | None = None,
    name: str = "rag_search",
) -> RagSearchTool:
    """The tool over ``documents``, or over the document store opened from ``settings`` on
    first use (so building the tool costs nothing: no model load, no database lock)."""
    settings = settings or Settings.load()
    max_tokens = settings.rag_max_tokens
    lock = threading.Lock()
    holder: list[DocumentStore] = [documents] if documents is not None else []

    def get_documents() -> DocumentStore:
        with lock:
            if not holder:
                holder.append(DocumentStore.open(settings))
            return holder[0]

    async def prefetch(question: str) -> Sourced | None:
        """The search the runtime makes before the model's first step (``AGENT_AUTO_RETRIEVE``):
        the best ``auto_retrieve_top_k`` excerpts for ``question`` by the ranking of
        ``rag_search`` (meaning and words: an API name in the question finds the chunk that
        names it), shown only when one is close in meaning (cosine >=
        ``auto_retrieve_min_score``), and without those far from it (``PREFETCH_FLOOR``); else
        ``None``."""
        base = await asyncio.to_thread(get_documents)
        if not await asyncio.to_thread(base.store.has_collection, base.collection_name):
            return None
        query = question.strip()[:1000]
        hits = await base.asearch(query, top_k=settings.auto_retrieve_top_k, cosine=True)
        cosines = [float(h.fields.get("cosine", -1.0)) for h in hits]
        if not hits or max(cosines) < settings.auto_retrieve_min_score:
            return None
        close = [h for h, c in zip(hits, cosines, strict=True) if c >= PREFETCH_FLOOR]
        return format_hits(query, close, max_tokens=max_tokens)

    async def rag_search(args: RagSearchArgs) -> str | Sourced:
        query = args.query.strip()
        if not query:
            raise ToolError("query is blank: say what to look for")
        tags = [t.strip() for t in args.tags or [] if t.strip()] or None
        base = await asyncio.to_thread(get_documents)
        if not await asyncio.to_thread(base.store.has_collection, base.collection_name):
            return (
                "No documents have been ingested (agent docs add), so there is nothing to "
                "search. Answer the question without this tool."
            )
        hits = await base.asearch(query, top_k=args.top_k, source=args.source, tags=tags)
        if not hits and (args.source or tags):
            return (
                f'No documents matched "{query}" with the given source/tags filter; '
                "try again without it."
            )
        return format_hits(query, hits, max_tokens=max_tokens)

    return RagSearchTool(
        rag_search,
        RagSearchArgs,
        prefetch=prefetch,
        name=name,
        description=(
            "Search the user's ingested documents (manuals, notes, runbooks) and return the "
            "most relevant excerpts with their source. Use it only for facts that would be in "
            "those documents, not for arithmetic or general knowledge; cite what you use."
        ),
        # the first call loads the embedding model (10-25 s cold on two cores)
        timeout_s=max(settings.tool_timeout_s, 120.0),
        untrusted_output=True,
        deterministic=True,  # the documents do not change under a run
    )
