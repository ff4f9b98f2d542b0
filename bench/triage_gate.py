"""The triage's no-match gate for stack traces, measured on Defects4J.

The lookup always ranks the nearest known errors; triage explains one only when a match is
evidence (``agent.known_errors.is_close``). For a trace that is its trace score reaching
``AGENT_TRIAGE_MIN_TRACE_SHARE`` of the query's own score. A good threshold keeps every right
answer and refuses the traces of errors the KB does not have. Both are measured here on the
Defects4J dev split (the KB and queries of ``bench/triage_recall.py``'s ``d4j`` suite):

  kept      of the queries whose own bug's entry ranks first, the share still counted a match
  refused   the same queries against the KB without any entry of their project (an error the
            KB does not know): the share whose best entry falls under the threshold

both with the KB of every bug and with a KB of 60 random bugs (the starter KB's size), as the
score is meant to mean the same at any KB size.

    python bench/triage_gate.py [--d4j ../shared/data/defects4j/traces_dev.jsonl]

Prints a table and a final JSON line; skips cleanly without the data.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from task_suites.triage import defects4j_entry, defects4j_queries, load_defects4j

from agent.known_errors.traces import TraceIndex
from agent.settings import Settings

THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
SMALL_KB = 60


def _project(entry_id: str) -> str:
    return entry_id.rsplit("-", 1)[0]


def measure(
    docs: Sequence[tuple[str, str]], queries: Sequence[tuple[str, str]]
) -> dict[str, object]:
    """Per threshold: the share of right first hits kept, of unknown-project traces refused."""
    index = TraceIndex(docs)
    right: list[float] = []  # the score of the own entry, where it ranks first
    unknown: list[float] = []  # the best score among other projects' entries
    for gold, text in queries:
        ranked = index.rank(text, limit=len(docs))
        if ranked and ranked[0][0] == gold:
            right.append(ranked[0][1])
        others = [s for eid, s in ranked if _project(eid) != _project(gold)]
        unknown.append(others[0] if others else 0.0)
    return {
        "kb": len(docs),
        "queries": len(queries),
        "right_first": len(right),
        "thresholds": {
            str(t): {
                "kept": round(sum(s >= t for s in right) / max(len(right), 1), 4),
                "refused": round(sum(s < t for s in unknown) / max(len(unknown), 1), 4),
            }
            for t in THRESHOLDS
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--d4j", type=Path, default=Path("../shared/data/defects4j/traces_dev.jsonl")
    )
    parser.add_argument("--seed", type=int, default=1, help="for the 60-bug KB")
    args = parser.parse_args(argv)
    if not args.d4j.is_file():
        print(f"skipped: no Defects4J traces at {args.d4j} (pass --d4j FILE)")
        return 0
    bugs = load_defects4j(args.d4j)
    docs = [(e.id, e.examples[0]) for e in map(defects4j_entry, bugs)]
    queries = [(defects4j_entry(b).id, q) for b in bugs for q in defects4j_queries(b)]
    small = dict(random.Random(args.seed).sample(docs, SMALL_KB))
    results = {
        "every bug": measure(docs, queries),
        f"{SMALL_KB} bugs": measure(list(small.items()), [q for q in queries if q[0] in small]),
    }
    default = Settings.model_fields["triage_min_trace_share"].default
    print(f"no-match gate for traces (default AGENT_TRIAGE_MIN_TRACE_SHARE={default})")
    print(f"{'KB':<10} {'threshold':>9} {'kept':>6} {'refused':>8}")
    for name, res in results.items():
        thresholds = res["thresholds"]
        assert isinstance(thresholds, dict)
        for t, row in thresholds.items():
            mark = " <- default" if float(t) == default else ""
            print(f"{name:<10} {t:>9} {row['kept']:>6.2f} {row['refused']:>8.2f}{mark}")
    print(json.dumps({"bench": "triage_gate", "default": default, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
