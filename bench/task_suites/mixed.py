"""mixed: questions that need a document lookup AND arithmetic; right = the final number.

The documents are the Node.js v20 API reference as Debian's ``nodejs`` package installs it,
Markdown sources under ``/usr/share/doc/nodejs/api/`` (``DOC_FILES``, read by path, never
copied). Licence: MIT ("Copyright Node.js contributors", ``/usr/share/doc/nodejs/LICENSE``; the
docs are part of the Node.js repository, ``doc/api/``). They state many concrete defaults and
limits (timeouts, buffer sizes, counts), which the questions use.

Each of the 54 hand-written ``QUESTIONS`` (``_mixed_questions.py``) names one or two documented
defaults and asks for a number computed from them ("the default ``server.keepAliveTimeout``:
how many fit into one hour?"); the expected value is written as the arithmetic on the
documented numbers. Each question carries its supporting snippets (file, exact text,
whitespace-insensitive); ``load`` checks that every snippet is still in its document and leaves
out, with a line on stderr, any question whose snippet is gone (another Node.js version).
Right = the answer's final number is the expected one (``gsm8k.final_number``, exact up to
1e-9 relative). Arms: agent, agent+vote, bare, raw.

The documents are ingested into a fresh Milvus Lite file in a temp dir, collection
``COLLECTION``, by ``settings(base)``, which returns ``base`` pointing ``rag_search`` there
(``milvus_uri``, ``docs_collection``; the known-error store is left where it was). The runner
must use those settings for the agent and raw arms. Ingesting the 19 files (~2,600 chunks)
takes minutes on two cores (8 min under a concurrent benchmark).

    PYTHONPATH=bench .venv/bin/python -m task_suites mixed [--retrieval]  # offline self-check
"""

from __future__ import annotations

import argparse
import atexit
import json
import random
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent import Settings
from agent.rag import DocumentStore
from agent.store import VectorStore, make_embedder
from task_suites._mixed_questions import DOC_FILES, DOCS_DIR, QUESTIONS, Question
from task_suites.base import RunOutput, SuiteSkipped, Task
from task_suites.gsm8k import final_number

COLLECTION = "bench_mixed_nodejs_docs"
SOURCE = "nodejs-api-docs"
SUFFIX = " End your answer with the final number."
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


class Mixed:
    name = "mixed"
    arms: tuple[str, ...] = ("agent", "agent+vote", "bare", "raw")

    def __init__(self, docs_dir: Path = DOCS_DIR) -> None:
        self.docs_dir = docs_dir
        self.left_out: list[str] = []  # questions whose snippet is gone, at the last load
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._store_uri: str | None = None
        atexit.register(self.close)

    def documents(self) -> list[Path]:
        return [self.docs_dir / name for name in DOC_FILES]

    def usable_questions(self) -> list[Question]:
        """The questions whose every snippet is in its document (the others: ``left_out``)."""
        missing = [p for p in self.documents() if not p.is_file()]
        if missing:
            raise SuiteSkipped(f"Node.js API docs absent: {', '.join(map(str, missing[:3]))}")
        texts = {p.name: normalize(p.read_text(encoding="utf-8")) for p in self.documents()}
        usable, self.left_out = [], []
        for q in QUESTIONS:
            gone = [
                f"{doc}: {snip!r}" for doc, snip in q.support if normalize(snip) not in texts[doc]
            ]
            if gone:
                self.left_out.append(q.id)
                print(f"mixed: left out {q.id}: snippet not found in {gone[0]}", file=sys.stderr)
            else:
                usable.append(q)
        return usable

    def load(self, data: Path, n: int, seed: int) -> list[Task]:
        usable = self.usable_questions()
        picked = random.Random(seed).sample(usable, min(n, len(usable)))
        return [
            Task(
                self.name,
                q.id,
                q.question + SUFFIX,
                q.answer,
                extra={"support": [list(s) for s in q.support]},
            )
            for q in picked
        ]

    def settings(self, base: Settings) -> Settings:
        """``base`` with ``rag_search`` on a fresh store holding the documents (ingested on the
        first call, with ``base``'s embedder and chunking, and kept until exit)."""
        if self._store_uri is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="bench-mixed-")
            uri = str(Path(self._tmp.name) / "docs.db")
            store = DocumentStore(
                VectorStore(uri),
                make_embedder(base),
                collection=COLLECTION,
                chunk_size=base.chunk_size,
                chunk_overlap=base.chunk_overlap,
                owns=True,
            )
            with store:
                report = store.ingest(self.documents(), source=SOURCE, progress=_progress)
            if report.skipped:
                raise SuiteSkipped(f"documents not ingested: {report.skipped[:3]}")
            print(
                f"mixed: ingested {len(DOC_FILES)} documents, {report.chunks_added} chunks, "
                f"in {report.seconds:.0f}s",
                file=sys.stderr,
            )
            self._store_uri = uri
        return base.model_copy(
            update={
                "milvus_uri": self._store_uri,
                "docs_collection": COLLECTION,
                "errors_milvus_uri": base.errors_store_uri,  # unchanged by the new milvus_uri
            }
        )

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._store_uri = None

    def check(self, task: Task, out: RunOutput) -> bool:
        got = final_number(out.answer)
        expected = float(task.expected)
        # tighter than gsm8k's 1e-6: answers here reach 1,000,000, where 1e-6 would allow +-1
        return got is not None and abs(got - expected) <= 1e-9 * max(1.0, abs(expected))

    async def run_agent(self, task: Task, settings: Settings) -> RunOutput | None:
        return None


def _progress(done: int, total: int) -> None:
    if total and (done == total or done % 256 < 64):
        print(f"mixed: embedded {done}/{total} chunks", file=sys.stderr, flush=True)


# ---- offline self-check ----------------------------------------------------------------------


def self_check(retrieval: bool = False) -> dict[str, Any]:
    """Snippets present; ids unique; the expected number scores right and a near miss wrong;
    with ``retrieval``, ingest (through ``settings``) and report how often a document search
    of the question returns, in its top 5, a chunk holding every snippet of the question."""
    suite = Mixed()
    usable = suite.usable_questions()
    ids = [q.id for q in QUESTIONS]
    scoring = {"cases": 0, "as_expected": 0}
    for task in suite.load(Path("."), len(QUESTIONS), 0):
        value = float(task.expected)
        shown = f"{value:,.0f}" if value.is_integer() else f"{value}"
        for answer, right in [
            (f"It is {shown}.", True),
            (f"The default is 7, so the answer is {shown}", True),
            (f"The answer is {value + 1:,.0f}.", False),
            (f"The answer is {shown}. (See also 99991 KiB.)", True),  # the marker's number
            (f"I first had {shown}, but the answer is 99991.", False),
            (f"So {shown} HTTP/2 streams, with utf8 and v20.", True),  # names are not numbers
            ("I cannot find it.", False),
        ]:
            scoring["cases"] += 1
            scoring["as_expected"] += suite.check(task, RunOutput(answer)) == right
    result: dict[str, Any] = {
        "questions": len(QUESTIONS),
        "usable": len(usable),
        "left_out": suite.left_out,
        "unique_ids": len(set(ids)) == len(ids),
        "documents": [str(p) for p in suite.documents()],
        "licence": "MIT (Node.js, /usr/share/doc/nodejs/LICENSE)",
        "scoring": scoring,
    }
    if retrieval:
        settings = suite.settings(Settings.load())
        with DocumentStore.open(settings) as docs:
            found = 0
            misses = []
            for q in usable:
                hits = docs.search(q.question, top_k=5)
                texts = [normalize(h.text) for h in hits]
                if all(any(normalize(s) in t for t in texts) for _, s in q.support):
                    found += 1
                else:
                    misses.append(q.id)
        result["retrieval_top5_all_snippets"] = f"{found}/{len(usable)}"
        result["retrieval_misses"] = misses
        suite.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="offline self-check of the mixed suite")
    parser.add_argument("--retrieval", action="store_true", help="also ingest and search")
    args = parser.parse_args(argv)
    try:
        result = self_check(args.retrieval)
    except SuiteSkipped as exc:
        print(f"skipped: {exc}")
        return 0
    print(json.dumps(result, indent=2))
    ok = result["unique_ids"] and result["scoring"]["cases"] == result["scoring"]["as_expected"]
    return 0 if ok and result["usable"] >= 40 else 1


if __name__ == "__main__":
    sys.exit(main())
