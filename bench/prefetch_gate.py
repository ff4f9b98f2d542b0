"""Where to set ``AGENT_AUTO_RETRIEVE_MIN_SCORE``: how close (cosine) the best excerpt of the
runtime's prefetch is for questions the documents answer, and for questions they do not.

In-domain: the ``mixed`` suite's questions over the Node.js API docs (each names the documented
default it needs). Out-of-domain: a fixed-seed sample of GSM8K train questions (grade-school
word problems) against the same documents. For each threshold: the share of in-domain questions
that get excerpts, the share whose excerpts hold a supporting snippet, and the share of
out-of-domain questions that would get (useless) excerpts.

    python bench/prefetch_gate.py [--data ../shared/data] [--n 54]

A second table compares what the excerpts hold: the prefetch as shipped, and each search mode
and size alone: the share of in-domain questions whose excerpts hold any of its supporting
snippets, and all of them (a question naming two defaults needs both), and the excerpts' mean
length in characters (what the model must read).

Prints the tables and a final JSON line. Skips cleanly without the data.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from task_suites._mixed_questions import Question
from task_suites.base import SuiteSkipped
from task_suites.mixed import Mixed, normalize

from agent import Settings
from agent.rag import DocumentStore
from agent.store import SearchMode
from tools.rag_search import PREFETCH_FLOOR

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60)
CONTENT: tuple[tuple[SearchMode, int], ...] = (
    ("dense", 3),
    ("hybrid", 3),
    ("hybrid", 4),
    ("hybrid", 5),
    ("bm25", 3),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=54, help="out-of-domain questions")
    args = parser.parse_args()
    gsm = args.data / "gsm8k" / "train.jsonl"
    if not gsm.is_file():
        print(f"skipped: {gsm} absent")
        print(json.dumps({"skipped": True}))
        return
    suite = Mixed()
    try:
        questions = suite.usable_questions()
        settings = suite.settings(Settings.load())
    except SuiteSkipped as exc:
        print(f"skipped: {exc}")
        print(json.dumps({"skipped": True}))
        return
    lines = gsm.read_text().splitlines()
    outside = [
        json.loads(lines[i])["question"]
        for i in random.Random(0).sample(range(len(lines)), min(args.n, len(lines)))
    ]
    inside: list[tuple[float, bool]] = []
    far: list[float] = []
    top_k = settings.auto_retrieve_top_k
    shipped = f"prefetch: hybrid@{top_k}, cosine >= {PREFETCH_FLOOR}"
    holds: dict[str, list[tuple[bool, bool, int]]] = {f"{m}@{k}": [] for m, k in CONTENT}
    holds[shipped] = []

    def held(q: Question, texts: list[str]) -> tuple[bool, bool, int]:
        joined = " ".join(normalize(t) for t in texts)
        there = [normalize(snip) in joined for _, snip in q.support]
        return any(there), all(there), len(joined)

    with DocumentStore.open(settings) as docs:
        for q in questions:  # as the prefetch does it (tools.rag_search)
            hits = docs.search(q.question, top_k=top_k, cosine=True)
            kept = [h.text for h in hits if h.fields["cosine"] >= PREFETCH_FLOOR]
            holds[shipped].append(held(q, kept))
            best = max((h.fields["cosine"] for h in hits), default=-1.0)
            inside.append((best, holds[shipped][-1][0]))
            for mode, k in CONTENT:
                holds[f"{mode}@{k}"].append(
                    held(q, [h.text for h in docs.search(q.question, top_k=k, mode=mode)])
                )
        for text in outside:
            hits = docs.search(text, top_k=top_k, cosine=True)
            far.append(max((h.fields["cosine"] for h in hits), default=-1.0))
    rows = []
    print(
        "| min score | in-domain given excerpts | ... holding the snippet | GSM8K given excerpts |"
    )
    print("|---|---|---|---|")
    for t in THRESHOLDS:
        given = [b for b, _ in inside if b >= t]
        useful = [ok for b, ok in inside if b >= t and ok]
        noise = [b for b in far if b >= t]
        row = {
            "min_score": t,
            "in_domain_given": len(given) / len(inside),
            "in_domain_with_snippet": len(useful) / len(inside),
            "out_of_domain_given": len(noise) / len(far),
        }
        rows.append(row)
        print(
            f"| {t:.2f} | {len(given)}/{len(inside)} | {len(useful)}/{len(inside)} | "
            f"{len(noise)}/{len(far)} |"
        )
    print(
        f"in-domain best-score median {sorted(s for s, _ in inside)[len(inside) // 2]:.3f}; "
        f"GSM8K best-score median {sorted(far)[len(far) // 2]:.3f}",
        file=sys.stderr,
    )
    print("\n| excerpts | any snippet | all snippets | mean chars |")
    print("|---|---|---|---|")
    content = {}
    for name, cells in holds.items():
        n = len(cells)
        some, every = sum(a for a, _, _ in cells), sum(b for _, b, _ in cells)
        chars = round(sum(c for _, _, c in cells) / n)
        content[name] = {"any_snippet": some / n, "all_snippets": every / n, "mean_chars": chars}
        print(f"| {name} | {some}/{n} | {every}/{n} | {chars} |")
    print(
        json.dumps(
            {"in_domain": len(inside), "out_of_domain": len(far), "rows": rows, "content": content}
        )
    )


if __name__ == "__main__":
    main()
