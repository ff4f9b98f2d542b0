"""triage: error triage of real log lines and stack traces against a knowledge base.

Right = the right KB entry is cited (among at most ``MAX_CITED`` citations, so citing everything
does not count) AND the answer has a non-empty cause AND a non-empty fix.

Sources, half the tasks each (fixed seed):

* Loghub (``DATA/loghub``; research licence, cite the Loghub paper): the query is one raw
  ``Content`` line of ``<Sys>_2k.log_structured.csv``; its entry is the line's EventId template.
  Systems are taken in turn, a template not yet used in that system at random, a line of it at
  random. KB: every template of the sampled systems (``agent.known_errors.import_file``, as
  ``bench/triage_recall.py`` does: signature = the template as a regex).
* Defects4J dev split (``DATA/defects4j/traces_dev.jsonl``, MIT): the KB has one entry per bug,
  the first failing test's stack trace; the query is another failing test's trace of the same
  bug that differs from the first (projects in turn, a bug at random). KB: every bug of the
  sampled projects. Traces longer than ``MAX_TRACE_CHARS`` are cut to their first
  ``MAX_TRACE_CHARS`` characters (both the entry and the query; both arms see the same text).

The data has no causes or fixes, so each entry's cause and fix text is SYNTHESIZED from the data
("the HDFS component logged the event <template>"; "Defects4J bug Lang-6: the test ... fails
with ..."), generic and not a real diagnosis. What is measured is therefore citing the right entry
and producing a non-empty explanation and fix, not the quality of the explanation.

Arms: ``agent`` runs the project's ``agent.triage.triage`` (reduce, lookup, one structured
LLM call citing among the retrieved ids) on the suite's index and is scored on the report's
``cited_ids``,
``cause``, ``fix``; ``raw`` gets a ``lookup_error`` tool on the same index
(``make_local_lookup_error_tool``) and a question that asks for the same answer form, and its
answer is parsed by ``agent.triage.parse_answer``. The index (Milvus Lite in a temp dir, local
MiniLM embeddings) is built once per ``load`` and closed at exit.

    PYTHONPATH=bench .venv/bin/python -m task_suites triage [--data ../shared/data] [--n 30]
"""

from __future__ import annotations

import argparse
import atexit
import csv
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import Settings
from agent.errors import AgentError
from agent.known_errors import ErrorIndex, KnownError, import_file
from agent.store import EmbeddingCache, LocalEmbedder, VectorStore
from agent.text import clip
from agent.triage import TriageRequest, parse_answer, triage
from task_suites.base import RunOutput, SuiteSkipped, Task
from tools.lookup_error import make_local_lookup_error_tool

SYSTEMS = ("HDFS", "Apache", "Hadoop", "Spark", "Zookeeper")
MAX_TRACE_CHARS = 8000
MAX_CITED = 3
TOP_K = 3
BATCH = 100
QUESTION = (
    "Triage this log. Look it up in the known-error knowledge base with lookup_error, cite "
    "the entry that matches by its id in square brackets, e.g. [some-entry-id], and answer in "
    "this form:\nCause: <why it happens>\nFix: <what to do>\nKnown errors: [<id>]\n\n"
    "```\n{log}\n```"
)


@dataclass
class TriageOutput(RunOutput):
    """The agent arm's result: what ``triage()`` reported, besides the answer text."""

    cited: list[str] = field(default_factory=list)
    cause: str | None = None
    fix: str | None = None


def is_right(expected: str, cited: list[str], cause: str | None, fix: str | None) -> bool:
    """The scoring rule: ``expected`` cited (at most ``MAX_CITED`` citations), cause and fix
    both non-blank."""
    return (
        expected in cited
        and len(cited) <= MAX_CITED
        and bool((cause or "").strip())
        and bool((fix or "").strip())
    )


# ---- the knowledge base, from the data ---------------------------------------------------------


def loghub_entries(folder: Path, system: str) -> list[KnownError]:
    """The system's templates as entries, with a synthesized cause and fix."""
    out = []
    for entry in import_file(folder / f"{system}_2k.log_templates.csv"):
        event = entry.id.rsplit("-", 1)[1]
        out.append(
            entry.model_copy(
                update={
                    "cause": (
                        f"The {system} component logged event {event}: '{entry.title}'. "
                        "(Synthesized from the Loghub template; no diagnosis is known.)"
                    ),
                    "fix": (
                        f"Check the {system} documentation for event {event} and the state of "
                        "the component named in the line (the block, node, job or session id)."
                    ),
                    "tags": [system.lower(), "loghub", "log-template"],
                }
            )
        )
    return out


def load_defects4j(path: Path) -> list[dict[str, Any]]:
    """The bugs of a Defects4J traces JSONL (``traces_dev.jsonl``), one per line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def defects4j_entry(bug: dict[str, Any]) -> KnownError:
    """One bug: its first failing test's trace, with a synthesized cause and fix."""
    first = bug["failing_tests"][0]
    project, number = bug["project"], bug["bug_id"]
    exception = (first.get("exception_line") or first.get("exception_type") or "").strip()
    return KnownError(
        id=f"d4j-{project.lower()}-{number}",
        title=clip(f"{project} bug {number}: {exception or 'test failure'}", 300),
        signature=None,
        examples=[clip(first["stack_trace"], MAX_TRACE_CHARS)],
        cause=(
            f"Defects4J bug {project}-{number} ({bug.get('report_id', 'no report id')}): the "
            f"code under test fails {first['test']} with "
            f"{first.get('exception_type') or 'an error'}. "
            "(Synthesized from the dataset; the report has the real diagnosis.)"
        ),
        fix=f"Apply the fix of {project} bug {number}; see {bug.get('report_url', 'its report')}.",
        tags=[project.lower(), "defects4j", "java"],
        references=[bug["report_url"]] if bug.get("report_url") else [],
    )


def defects4j_queries(bug: dict[str, Any]) -> list[str]:
    """The bug's other failing tests' traces that differ from the first."""
    tests = bug["failing_tests"]
    first = tests[0]["stack_trace"]
    seen: set[str] = set()
    out = []
    for test in tests[1:]:
        trace = test["stack_trace"]
        if trace != first and trace not in seen and trace.strip():
            seen.add(trace)
            out.append(trace)
    return out


# ---- sampling ----------------------------------------------------------------------------------


def _round_robin(groups: dict[str, list[Any]], n: int, rng: random.Random) -> list[Any]:
    """Up to ``n`` items, one group after another in a shuffled order, each group's items in a
    shuffled order."""
    order = sorted(groups)
    rng.shuffle(order)
    pools = {g: rng.sample(groups[g], len(groups[g])) for g in order}
    picked: list[Any] = []
    while len(picked) < n and any(pools.values()):
        for g in order:
            if pools[g] and len(picked) < n:
                picked.append(pools[g].pop())
    return picked


def sample_loghub(root: Path, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(system, line id, Content) of ``n`` lines: systems in turn, distinct templates."""
    by_template: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    for system in SYSTEMS:
        path = root / system / f"{system}_2k.log_structured.csv"
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                key = f"{system}\0{row['EventId']}"
                by_template[key].append((system, row["LineId"], row["EventId"], row["Content"]))
    templates: dict[str, list[str]] = defaultdict(list)
    for key in sorted(by_template):
        templates[key.split("\0")[0]].append(key)
    keys = _round_robin(templates, n, rng)
    out = []
    for key in keys:
        system, line_id, event, content = rng.choice(by_template[key])
        out.append((system, f"{line_id}:{event}", content))
    return out


# ---- the suite ---------------------------------------------------------------------------------


class Triage:
    name = "triage"
    arms: tuple[str, ...] = ("agent", "raw")

    def __init__(self) -> None:
        self.index: ErrorIndex | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._cache: EmbeddingCache | None = None
        self._known: set[str] = set()
        atexit.register(self.close)

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def load(self, data: Path, n: int, seed: int) -> list[Task]:
        loghub, d4j = data / "loghub", data / "defects4j" / "traces_dev.jsonl"
        has_loghub = all((loghub / s).is_dir() for s in SYSTEMS)
        if not has_loghub and not d4j.is_file():
            raise SuiteSkipped(f"no Loghub data at {loghub} and no {d4j}")
        n_log = (n + 1) // 2 if d4j.is_file() else n
        n_d4j = n - n_log if has_loghub else n
        if not has_loghub or not d4j.is_file():
            print(
                f"triage: only {'Loghub' if has_loghub else 'Defects4J'} is here", file=sys.stderr
            )
        rng = random.Random(seed)
        entries: list[KnownError] = []
        pending: list[tuple[str, str, str, str]] = []  # (task id, log, expected id, source)
        if has_loghub and n_log:
            lines = sample_loghub(loghub, n_log, rng)
            systems = sorted({s for s, _, _ in lines})
            for system in systems:
                entries += loghub_entries(loghub / system, system)
            for system, line, content in lines:
                event = line.split(":", 1)[1]
                pending.append(
                    (f"loghub-{system}-{line}", content, f"{system.lower()}-{event}", "loghub")
                )
        if d4j.is_file() and n_d4j:
            bugs = load_defects4j(d4j)
            with_queries: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for bug in bugs:
                if defects4j_queries(bug):
                    with_queries[bug["project"]].append(bug)
            picked = _round_robin(with_queries, n_d4j, rng)
            projects = {b["project"] for b in picked}
            entries += [defects4j_entry(b) for b in bugs if b["project"] in projects]
            for bug in picked:
                trace = clip(rng.choice(defects4j_queries(bug)), MAX_TRACE_CHARS)
                entry_id = f"d4j-{bug['project'].lower()}-{bug['bug_id']}"
                pending.append((entry_id, trace, entry_id, "defects4j"))
        index = self._build_index(entries)
        tool = make_local_lookup_error_tool(index, Settings.load())
        return [
            Task(
                self.name,
                task_id,
                QUESTION.format(log=log),
                expected,
                tools=[tool],
                extra={"log": log, "source": source},
            )
            for task_id, log, expected, source in pending
        ]

    def _build_index(self, entries: list[KnownError]) -> ErrorIndex:
        self.close()
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-triage-")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self._cache = EmbeddingCache(Path(self._tmp.name) / "embeddings.sqlite")
        store = VectorStore(os.path.join(self._tmp.name, "triage.db"))
        index = ErrorIndex(store, LocalEmbedder(), owns_store=True, embedding_cache=self._cache)
        started = time.perf_counter()
        for start in range(0, len(entries), BATCH):
            index.upsert(entries[start : start + BATCH])
            done = min(start + BATCH, len(entries))
            print(
                f"triage: indexed {done}/{len(entries)} KB entries "
                f"({time.perf_counter() - started:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
        self.index = index
        self._known = set(index.ids())
        return index

    def check(self, task: Task, out: RunOutput) -> bool:
        if isinstance(out, TriageOutput):
            return is_right(task.expected, out.cited, out.cause, out.fix)
        cause, fix, cited = parse_answer(out.answer, self._known)
        return is_right(task.expected, cited, cause, fix)

    async def run_agent(self, task: Task, settings: Settings) -> RunOutput | None:
        if self.index is None:
            raise RuntimeError("triage: load() builds the index; call it first")
        request = TriageRequest(log=task.extra["log"], top_k=TOP_K, llm=True)
        report = await triage(request, settings=settings, index=self.index)
        if report.llm_error is not None:
            raise AgentError(report.llm_error)
        # a triage makes no tool calls (reduce and lookup run without the model): calls stay empty
        tokens = report.usage.get("total_tokens", 0)
        # how it was explained: the tokens decoded (most of a triage's time on a CPU), and
        # which parts are an entry's own text, named by the model, or the fallback's
        quotes = ", ".join(f"{part} of {i}" for part, i in report.from_kb.items())
        note = f"{report.usage.get('output_tokens', 0)} tokens out" + (
            f"; fallback ({report.llm_error or 'no usable reply'})"
            if report.fallback
            else f"; quoted the {quotes}"
            if quotes
            else ""
        )
        return TriageOutput(
            report.answer or "",
            [],
            tokens,
            note,
            cited=report.cited_ids,
            cause=report.cause,
            fix=report.fix,
        )


# ---- offline self-check --------------------------------------------------------------------------


def lookup_recall(suite: Triage, tasks: list[Task]) -> dict[str, Any]:
    """Recall@1 and @3 of the index lookup alone (no LLM): the ceiling of citing right."""
    assert suite.index is not None
    ranked = suite.index.lookup_many([t.extra["log"] for t in tasks], top_k=TOP_K)
    hits: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for task, matches in zip(tasks, ranked, strict=True):
        ids = [m.id for m in matches]
        hit = (ids[:1] == [task.expected], task.expected in ids[:3])
        hits[task.extra["source"]].append(hit)
        hits["all"].append(hit)
    return {
        source: {
            "n": len(h),
            "r@1": round(sum(a for a, _ in h) / len(h), 4),
            "r@3": round(sum(b for _, b in h) / len(h), 4),
        }
        for source, h in hits.items()
    }


def scoring_check(suite: Triage, tasks: list[Task]) -> dict[str, int]:
    """Right and wrong outputs, built by hand, must score as such."""
    results = {"cases": 0, "as_expected": 0}
    ids = list(dict.fromkeys(t.expected for t in tasks))
    for task in tasks:
        wrong = [i for i in ids if i != task.expected][:MAX_CITED]
        good = f"Cause: it broke.\nFix: mend it.\nKnown errors: [{task.expected}]"
        cases = [
            (TriageOutput("x", cited=[task.expected], cause="c", fix="f"), True),
            (TriageOutput("x", cited=[wrong[0]], cause="c", fix="f"), False),
            (TriageOutput("x", cited=[task.expected], cause="c", fix=""), False),
            (TriageOutput("x", cited=[task.expected], cause=None, fix="f"), False),
            (TriageOutput("x", cited=[*wrong, task.expected], cause="c", fix="f"), False),
            (RunOutput(good), True),
            (RunOutput(good.replace(task.expected, wrong[0])), False),
            (RunOutput(f"Cause: it broke.\nKnown errors: [{task.expected}]"), False),
            (RunOutput(f"Cause: it broke.\nFix: mend it.\nKnown errors: {task.expected}"), False),
        ]
        for out, expected in cases:
            results["cases"] += 1
            results["as_expected"] += suite.check(task, out) == expected
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="offline self-check of the triage suite")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    suite = Triage()
    try:
        tasks = suite.load(args.data, args.n, args.seed)
    except SuiteSkipped as exc:
        print(f"skipped: {exc}")
        return 0
    assert suite.index is not None
    scoring = scoring_check(suite, tasks)
    result = {
        "tasks": len(tasks),
        "by_source": {
            s: sum(t.extra["source"] == s for t in tasks) for s in ("loghub", "defects4j")
        },
        "kb_entries": suite.index.count(),
        "lookup_recall": lookup_recall(suite, tasks),
        "scoring": scoring,
    }
    suite.close()
    print(json.dumps(result, indent=2))
    return 0 if scoring["cases"] == scoring["as_expected"] else 1


if __name__ == "__main__":
    sys.exit(main())
