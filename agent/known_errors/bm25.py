"""BM25 over documents with named fields, in memory: the known-error lookup's text signals.

The whole KB is in memory anyway (its regexes must be), so its BM25 postings are too: a lookup
costs a walk over the query terms' postings, not a round trip to the vector store (on Milvus
Lite a BM25 search over a stack trace took 0.46 s at 10,000 entries, ``bench/triage_recall.py
--scale``), and BM25 works the same on a Milvus server that has no BM25 function.

    score(doc) = sum over fields f of  weight_f * sum over query terms t of
                 query_weight(t) * idf_f(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len/avg))
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

BM25_K1 = 1.2
BM25_B = 0.75
# A query term in more than this share of the documents is skipped: it barely separates them
# (its idf is near the floor) and its long posting list is most of a lookup's time.
COMMON_TERM_SHARE = 0.5

_PLAIN_TOKEN = re.compile(r"[a-z0-9]+")


def plain_tokens(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: what a plain BM25 over error text sees."""
    return _PLAIN_TOKEN.findall(text.lower())


def _idf(n: int, df: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _norm(length: int, avg: float) -> float:
    """BM25's length normalization of a document ``length`` terms long."""
    return BM25_K1 * (1 - BM25_B + BM25_B * length / avg)


def _weight(idf: float, count: int, norm: float) -> float:
    return idf * count * (BM25_K1 + 1) / (count + norm)


def _highest(terms: Iterable[tuple[str, float]]) -> dict[str, float]:
    """A query's terms, each once, at its highest weight."""
    best: dict[str, float] = {}
    for term, w in terms:
        best[term] = max(best.get(term, 0.0), w)
    return best


class FieldBM25:
    """Postings of ``docs`` (per document: field -> term counts), scored per field.

    A posting list is two arrays (documents, their BM25 weights); a query's score vector is
    one ``bincount`` over the concatenated lists of its terms, 2-3 ms over a stack trace's
    terms at 10,000 entries where a Python loop over the same postings took 13 ms."""

    def __init__(self, docs: Sequence[Mapping[str, Counter[str]]]) -> None:
        n = len(docs)
        self.size = n
        self._common = max(10, int(COMMON_TERM_SHARE * n))
        df: dict[str, Counter[str]] = defaultdict(Counter)
        total: Counter[str] = Counter()
        for doc in docs:
            for f, counts in doc.items():
                df[f].update(counts.keys())
                total[f] += sum(counts.values())
        self._df = df
        self._avg = {f: (total[f] / n) or 1.0 for f in total}
        lists: dict[tuple[str, str], tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for i, doc in enumerate(docs):
            for f, counts in doc.items():
                norm = _norm(sum(counts.values()), self._avg[f])
                for term, count in counts.items():
                    ids, weights = lists[(f, term)]
                    ids.append(i)
                    weights.append(_weight(_idf(n, df[f][term]), count, norm))
        self._postings: dict[tuple[str, str], tuple[NDArray[np.int32], NDArray[np.float64]]] = {
            key: (np.asarray(ids, dtype=np.int32), np.asarray(weights, dtype=np.float64))
            for key, (ids, weights) in lists.items()
        }

    def scores(
        self,
        query: Mapping[str, Iterable[tuple[str, float]]],
        weights: Mapping[str, float] | None = None,
    ) -> NDArray[np.float64]:
        """Every document's score for ``query`` (field -> (term, weight); a repeated term
        counts once, at its highest weight). Fields without a weight (or weight 0) are skipped
        when ``weights`` is given."""
        docs: list[NDArray[np.int32]] = []
        parts: list[NDArray[np.float64]] = []
        for f, terms in query.items():
            wf = 1.0 if weights is None else weights.get(f, 0.0)
            if not wf:
                continue
            for term, w in _highest(terms).items():
                posting = self._postings.get((f, term))
                if posting is None or len(posting[0]) > self._common:
                    continue
                docs.append(posting[0])
                parts.append(posting[1] * (wf * w))
        if not docs:
            return np.zeros(self.size)
        summed = np.bincount(np.concatenate(docs), np.concatenate(parts), minlength=self.size)
        return summed.astype(np.float64, copy=False)  # bincount with weights gives float64

    def self_score(
        self,
        query: Mapping[str, Iterable[tuple[str, float]]],
        weights: Mapping[str, float] | None = None,
    ) -> float:
        """The score a document identical to ``query`` would get, with these documents'
        statistics (a term none of them has counts at its highest idf): what the same text in
        the index scores, on the scale of ``scores``. Terms too common to score are left out
        here too."""
        total = 0.0
        for f, terms in query.items():
            wf = 1.0 if weights is None else weights.get(f, 0.0)
            if not wf:
                continue
            pairs = list(terms)
            counts = Counter(t for t, _ in pairs)
            norm = _norm(len(pairs), self._avg.get(f, 1.0))
            df = self._df.get(f, Counter())
            for term, w in _highest(pairs).items():
                if df[term] <= self._common:
                    total += wf * w * _weight(_idf(self.size, df[term]), counts[term], norm)
        return total


def top(scores: NDArray[np.float64], limit: int) -> list[int]:
    """The indexes of the ``limit`` highest positive scores, best first (ties by index)."""
    hits = np.flatnonzero(scores > 0)
    if len(hits) > limit:
        hits = hits[np.argpartition(-scores[hits], limit - 1)[:limit]]
    return sorted(hits.tolist(), key=lambda i: (-scores[i], i))


class TextIndex:
    """Plain BM25 over each entry's text (``plain_tokens``): the ``bm25`` signal of a lookup."""

    def __init__(self, docs: Iterable[tuple[str, str]]) -> None:
        """``docs``: (entry id, text) pairs."""
        self._ids: list[str] = []
        counts: list[dict[str, Counter[str]]] = []
        for entry_id, text in docs:
            self._ids.append(entry_id)
            counts.append({"text": Counter(plain_tokens(text))})
        self._bm25 = FieldBM25(counts)
        self._masks: dict[frozenset[str], NDArray[np.bool_]] = {}

    def rank(
        self, text: str, *, limit: int = 20, skip: frozenset[str] = frozenset()
    ) -> list[tuple[str, float]]:
        """(entry id, score) best first, entries in ``skip`` left out."""
        scores = self._bm25.scores({"text": [(t, 1.0) for t in plain_tokens(text)]})
        if skip:
            scores[self._mask(skip)] = 0.0
        return [(self._ids[i], round(float(scores[i]), 6)) for i in top(scores, limit)]

    def _mask(self, ids: frozenset[str]) -> NDArray[np.bool_]:
        """Which documents are in ``ids`` (the trace-covered set, the same for every query)."""
        mask = self._masks.get(ids)
        if mask is None:
            mask = np.fromiter((i in ids for i in self._ids), dtype=bool, count=len(self._ids))
            self._masks = {ids: mask}
        return mask


__all__ = ["FieldBM25", "TextIndex", "plain_tokens", "top"]
