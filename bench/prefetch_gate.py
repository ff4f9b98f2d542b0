"""Where to set ``AGENT_AUTO_RETRIEVE_MIN_SCORE``: how close (dense cosine) the best excerpt is
for questions the documents answer, and for questions they do not.

In-domain: the ``mixed`` suite's questions over the Node.js API docs (each names the documented
default it needs). Out-of-domain: a fixed-seed sample of GSM8K train questions (grade-school
word problems) against the same documents. For each threshold: the share of in-domain questions
that get excerpts, the share whose excerpts hold a supporting snippet, and the share of
out-of-domain questions that would get (useless) excerpts.

    python bench/prefetch_gate.py [--data ../shared/data] [--n 54]

Prints a table and a final JSON line. Skips cleanly without the data.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from task_suites.base import SuiteSkipped
from task_suites.mixed import Mixed, normalize

from agent import Settings
from agent.rag import DocumentStore
from tools.rag_search import PREFETCH_TOP_K

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60)


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
    with DocumentStore.open(settings) as docs:
        for q in questions:
            hits = docs.search(q.question, top_k=PREFETCH_TOP_K, mode="dense")
            found = " ".join(normalize(h.text) for h in hits)
            supported = any(normalize(snip) in found for _, snip in q.support)
            inside.append((hits[0].score if hits else -1.0, supported))
        for text in outside:
            hits = docs.search(text, top_k=1, mode="dense")
            far.append(hits[0].score if hits else -1.0)
    rows = []
    print(
        "| min score | in-domain given excerpts | ... holding the snippet | GSM8K given excerpts |"
    )
    print("|---|---|---|---|")
    for t in THRESHOLDS:
        kept = [s for s, _ in inside if s >= t]
        held = [ok for s, ok in inside if s >= t and ok]
        noise = [s for s in far if s >= t]
        row = {
            "min_score": t,
            "in_domain_given": len(kept) / len(inside),
            "in_domain_with_snippet": len(held) / len(inside),
            "out_of_domain_given": len(noise) / len(far),
        }
        rows.append(row)
        print(
            f"| {t:.2f} | {len(kept)}/{len(inside)} | {len(held)}/{len(inside)} | "
            f"{len(noise)}/{len(far)} |"
        )
    print(
        f"in-domain best-score median {sorted(s for s, _ in inside)[len(inside) // 2]:.3f}; "
        f"GSM8K best-score median {sorted(far)[len(far) // 2]:.3f}",
        file=sys.stderr,
    )
    print(json.dumps({"in_domain": len(inside), "out_of_domain": len(far), "rows": rows}))


if __name__ == "__main__":
    main()
