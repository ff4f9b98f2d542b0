"""bfcl: real function calling; right = the calls made are the ground-truth calls (BFCL AST match).

A fixed-seed sample of the Berkeley Function Calling Leaderboard v4 (Apache-2.0), spread evenly
over the categories simple_python, multiple (one call among several functions), parallel (several
calls of one function) and parallel_multiple (several calls of several functions). The question is
the user message(s) of the entry; the task's tools are the entry's functions, as
``JsonSchemaTool``\\ s whose schema is ``bfcl_schemas.convert`` of BFCL's and whose body does
nothing but answer ``"ok"`` (the arms record the calls). BFCL names may contain dots
(``math.factorial``) and OpenAI tool names may not: the tool is named with ``_`` for ``.`` and the
name is mapped back when checking. Ids in ``known_dataset_inconsistencies.json`` are left out, and
so are entries whose own ground truth its schema rejects (the first acceptable value of each
parameter fails validation): nobody could be right there. Arms: agent and raw (bare cannot call).

Scoring (``check``): the calls that count are the ones that ran: a call of a name the task does
not offer, or whose arguments the tool rejects, was sent back to the model as an error and not
executed, so it is left out (both arms get that error back and may repair the call). The calls
that ran must then match the ground truth one-to-one, order free, as many as expected, by
``calls_match`` (BFCL's AST rules, written out there).

    PYTHONPATH=bench .venv/bin/python -m task_suites bfcl [--data ../shared/data]  # self-check
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bfcl_schemas import CATEGORIES, convert, entries, materialize

from agent import Settings, Tool
from agent.errors import ConfigError
from agent.tooling import JsonSchemaTool, ToolArgumentsError
from task_suites.base import RunOutput, SuiteSkipped, Task

OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_BFCL_STRIP = re.compile(r"[ ,./\-_*^]")

Call = tuple[str, dict[str, Any]]
Expected = list[dict[str, dict[str, list[Any]]]]  # [{fname: {param: [acceptable values]}}]


# ---- matching: pure functions ----------------------------------------------------------------


def standardize(text: str) -> str:
    """BFCL's string normalisation: case-folded, without spaces and ``,./-_*^``, ``'`` as ``"``."""
    return _BFCL_STRIP.sub("", text).lower().replace("'", '"')


def values_equal(got: Any, want: Any) -> bool:
    """One made value against one acceptable value.

    * booleans equal booleans only (``1`` is not ``true``);
    * numbers compare by value, int and float alike (``3 == 3.0``); a string is not a number;
    * strings compare after ``standardize`` (case, spaces and ``,./-_*^`` ignored);
    * lists (and tuples) compare element-wise, same length, same order, by these rules;
    * a dict is BFCL's nested answer ``{key: [acceptable values]}``: see ``params_match``.
    """
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(want, bool) and isinstance(got, bool) and got == want
    if isinstance(want, int | float):
        return isinstance(got, int | float) and float(got) == float(want)
    if isinstance(want, str):
        return isinstance(got, str) and standardize(got) == standardize(want)
    if isinstance(want, list | tuple):
        return (
            isinstance(got, list | tuple)
            and len(got) == len(want)
            and all(values_equal(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return isinstance(got, dict) and params_match(got, want)
    return bool(got == want)


def value_matches(got: Any, acceptable: Sequence[Any]) -> bool:
    """Whether a made value is one of the acceptable ones (``""`` stands for "omitted", never a
    value to match)."""
    return any(values_equal(got, want) for want in acceptable if want != "")


def params_match(
    made: Mapping[str, Any],
    answer: Mapping[str, Sequence[Any]],
    *,
    declared: Sequence[str] | None = None,
    required: Sequence[str] = (),
) -> bool:
    """Made arguments against a ground-truth answer ``{param: [acceptable values]}``.

    * every parameter made is declared by the schema (when ``declared`` is given) and appears
      in the answer (BFCL: an unexpected parameter is wrong, even an optional one);
    * every ``required`` parameter of the schema is made;
    * each made value is among its acceptable values (``value_matches``);
    * a parameter of the answer that is not made must have ``""`` among its values (may be
      omitted).
    """
    if declared is not None and any(p not in declared for p in made):
        return False
    if any(p not in answer for p in made) or any(p not in made for p in required):
        return False
    for param, acceptable in answer.items():
        if param in made:
            if not value_matches(made[param], acceptable):
                return False
        elif "" not in acceptable:
            return False
    return True


def call_matches(
    made: Call, expected: Mapping[str, Mapping[str, Sequence[Any]]], schemas: Mapping[str, Any]
) -> bool:
    """One made call ``(name, arguments)`` against one expected call ``{name: answer}``: the same
    function name (exactly), and ``params_match`` under that function's JSON schema."""
    name, args = made
    if name not in expected:
        return False
    schema = schemas.get(name, {})
    return params_match(
        args,
        expected[name],
        declared=list(schema.get("properties", {})),
        required=list(schema.get("required", [])),
    )


def calls_match(made: Sequence[Call], expected: Expected, schemas: Mapping[str, Any]) -> bool:
    """The made calls are the expected ones: as many, and matched one-to-one by ``call_matches``
    in some order (a backtracking search for a perfect matching; BFCL's parallel rule)."""
    if len(made) != len(expected):
        return False
    fits = [[call_matches(m, e, schemas) for e in expected] for m in made]
    used = [False] * len(expected)

    def assign(i: int) -> bool:
        if i == len(made):
            return True
        for j, ok in enumerate(fits[i]):
            if ok and not used[j]:
                used[j] = True
                if assign(i + 1):
                    return True
                used[j] = False
        return False

    return assign(0)


# ---- the suite -------------------------------------------------------------------------------


def tool_name(name: str) -> str:
    """The OpenAI-legal name of a BFCL function (dots become underscores)."""
    return name.replace(".", "_")


async def _ok(**_: Any) -> str:
    return "ok"


def first_choice_calls(expected: Expected) -> list[Call]:
    """The ground truth as concrete calls: the first acceptable value of each parameter,
    parameters whose only choice is "omitted" left out (BFCL names, not tool names)."""
    calls: list[Call] = []
    for ground in expected:
        for fname, answer in ground.items():
            args = {
                p: materialize(next(v for v in vs if v != ""))
                for p, vs in answer.items()
                if any(v != "" for v in vs)
            }
            calls.append((fname, args))
    return calls


class BFCL:
    name = "bfcl"
    arms: tuple[str, ...] = ("agent", "raw")

    def __init__(self) -> None:
        self.unusable: Counter[str] = Counter()  # why entries were left out, at the last load

    def all_tasks(self, data: Path) -> list[Task]:
        """Every usable entry of the four categories, in file order."""
        root = data / "bfcl"
        if not (root / "possible_answer").is_dir():
            raise SuiteSkipped(f"no BFCL data at {root}")
        self.unusable = Counter()
        tasks: list[Task] = []
        for category, entry, ground_truth, inconsistent in entries(root):
            if inconsistent:
                self.unusable["known_dataset_inconsistencies"] += 1
                continue
            task = self._task(category, entry, ground_truth)
            if task is not None:
                tasks.append(task)
        return tasks

    def _task(self, category: str, entry: dict[str, Any], expected: Expected | None) -> Task | None:
        if not expected:
            self.unusable["no ground truth"] += 1
            return None
        names = {tool_name(fn["name"]): fn["name"] for fn in entry["function"]}
        if len(names) != len(entry["function"]) or not all(map(OPENAI_NAME.match, names)):
            self.unusable["function names not mappable to tool names"] += 1
            return None
        tools: list[Tool] = []
        schemas: dict[str, Any] = {}
        try:
            for fn in entry["function"]:
                schema = convert(fn["parameters"])
                schemas[fn["name"]] = schema
                tools.append(
                    JsonSchemaTool(
                        name=tool_name(fn["name"]),
                        description=fn.get("description", ""),
                        parameters=schema,
                        fn=_ok,
                    )
                )
        except ConfigError:
            self.unusable["schema not convertible"] += 1
            return None
        question = "\n\n".join(
            m["content"] for m in entry["question"][0] if m.get("role") == "user"
        )
        task = Task(
            self.name,
            entry["id"],
            question,
            expected,
            tools=tools,
            extra={"category": category, "names": names, "schemas": schemas},
        )
        truth = [(tool_name(n), a) for n, a in first_choice_calls(expected)]
        if len(executed_calls(task, truth)) != len(truth):
            self.unusable["ground truth rejected by its own schema"] += 1
            return None
        return task

    def load(self, data: Path, n: int, seed: int) -> list[Task]:
        by_category: dict[str, list[Task]] = {c: [] for c in CATEGORIES}
        for task in self.all_tasks(data):
            by_category[task.extra["category"]].append(task)
        rng = random.Random(seed)
        for tasks in by_category.values():
            rng.shuffle(tasks)
        picked: list[Task] = []
        while len(picked) < n and any(by_category.values()):
            for category in CATEGORIES:  # round robin: the categories stay within one of each other
                if by_category[category] and len(picked) < n:
                    picked.append(by_category[category].pop())
        return picked

    def check(self, task: Task, out: RunOutput) -> bool:
        return calls_match(executed_calls(task, out.calls), task.expected, task.extra["schemas"])

    async def run_agent(self, task: Task, settings: Settings) -> RunOutput | None:
        return None


def executed_calls(task: Task, calls: Sequence[Call]) -> list[Call]:
    """The calls that ran, under their BFCL names: a known tool, arguments it accepts. The
    arguments are the ones the tool ran with (numbers given as strings coerced, as the runtime
    does) minus defaults the validator filled in (the model did not send them)."""
    tools = {t.name: t for t in task.tools or []}
    names: dict[str, str] = task.extra["names"]
    out: list[Call] = []
    for name, args in calls:
        tool = tools.get(name)
        if tool is None:
            continue
        try:
            validated = tool.validate(dict(args))
        except ToolArgumentsError:
            continue
        out.append((names[name], {k: v for k, v in validated.items() if k in args}))
    return out


# ---- offline self-check ----------------------------------------------------------------------

_WRONG = "__certainly_not_the_answer__"


def _wrong_value(value: Any, acceptable: Sequence[Any], schema: Mapping[str, Any]) -> Any:
    """A value of the same type that is none of the acceptable ones, or None if there is none."""
    enum = schema.get("enum")
    if enum is not None:
        return next((e for e in enum if not value_matches(e, acceptable)), None)
    candidates: list[Any]
    if isinstance(value, bool):
        candidates = [not value]
    elif isinstance(value, int):
        candidates = [value + 7919, value - 7919]
    elif isinstance(value, float):
        candidates = [value + 7919.5, value - 7919.5]
    elif isinstance(value, str):
        candidates = [value + " " + _WRONG, _WRONG]
    elif isinstance(value, list) and value:
        candidates = [value[:-1], [*value, value[0]]]
    else:
        return None
    return next((c for c in candidates if not value_matches(c, acceptable)), None)


def self_check(data: Path) -> dict[str, Any]:
    """Score the ground truth and mutants of it, for every usable task of the four categories.

    Right answers: the first acceptable value of each parameter (``""``-only ones left out).
    Mutants, each must score wrong: a wrong value of the same type that the schema still accepts
    (so the matcher, not the validator, has to catch it); a required parameter dropped (checked
    through ``check`` and through ``calls_match`` without the validator); the call renamed to
    another function of the question, or to an unknown one; one extra copy of a call; one call
    missing (parallel categories).
    """
    suite = BFCL()
    tasks = suite.all_tasks(data)
    stats: dict[str, Counter[str]] = {c: Counter() for c in CATEGORIES}
    failures: list[str] = []
    for task in tasks:
        st = stats[task.extra["category"]]
        schemas: dict[str, Any] = task.extra["schemas"]
        truth = [(tool_name(n), a) for n, a in first_choice_calls(task.expected)]
        st["tasks"] += 1
        right = suite.check(task, RunOutput("", truth))
        st["truth_right"] += right
        if not right:
            failures.append(f"{task.id}: ground truth scored wrong")
        for kind, bad, pure in _mutants(task, truth, schemas):
            st[f"{kind}_mutants"] += 1
            wrong = not suite.check(task, RunOutput("", bad))
            if pure is not None:  # the matcher alone, validator bypassed
                wrong = wrong and not calls_match(pure, task.expected, schemas)
            st[f"{kind}_wrong"] += wrong
            if not wrong:
                failures.append(f"{task.id}: {kind} mutant scored right: {bad}")
    total: Counter[str] = sum(stats.values(), Counter())
    kinds = sorted({k[: -len("_mutants")] for k in total if k.endswith("_mutants")})
    return {
        "tasks": total["tasks"],
        "left_out": dict(suite.unusable),
        "truth_right": total["truth_right"],
        "truth_right_rate": round(total["truth_right"] / max(1, total["tasks"]), 4),
        "mutants": {k: f"{total[k + '_wrong']}/{total[k + '_mutants']} wrong" for k in kinds},
        "per_category": {
            c: {"tasks": s["tasks"], "truth_right": s["truth_right"]} for c, s in stats.items()
        },
        "failures": failures[:20],
        "failure_count": len(failures),
    }


def _mutants(
    task: Task, truth: list[Call], schemas: Mapping[str, Any]
) -> Iterator[tuple[str, list[Call], list[Call] | None]]:
    """(kind, mutated calls under tool names, the same under BFCL names for the bare matcher)."""
    names: dict[str, str] = task.extra["names"]
    first_name, first_args = truth[0]
    fname = names[first_name]
    schema = schemas[fname]
    answer = task.expected[0][fname]
    props: dict[str, Any] = schema.get("properties", {})

    def bfcl(calls: list[Call]) -> list[Call]:
        return [(names.get(n, n), a) for n, a in calls]

    for param, value in first_args.items():
        wrong = _wrong_value(value, answer.get(param, []), props.get(param, {}))
        if wrong is None:
            continue
        bad = [(first_name, {**first_args, param: wrong}), *truth[1:]]
        if len(executed_calls(task, bad)) == len(bad):  # still valid: the matcher must catch it
            yield "wrong_value", bad, bfcl(bad)
            break
    for param in schema.get("required", []):
        if param in first_args:
            dropped = {k: v for k, v in first_args.items() if k != param}
            bad = [(first_name, dropped), *truth[1:]]
            yield "missing_required", bad, bfcl(bad)
            break
    others = [n for n in names if n != first_name]
    renamed = others[0] if others else "not_a_function_of_this_question"
    bad = [(renamed, first_args), *truth[1:]]
    yield "wrong_function", bad, [(names.get(renamed, renamed), first_args), *bfcl(truth[1:])]
    bad = [*truth, truth[0]]
    yield "extra_call", bad, bfcl(bad)
    if len(truth) > 1:
        yield "missing_call", truth[1:], bfcl(truth[1:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="offline self-check of the bfcl suite")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args(argv)
    try:
        result = self_check(args.data)
    except SuiteSkipped as exc:
        print(f"skipped: {exc}")
        return 0
    for failure in result["failures"]:
        print(failure, file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0 if result["failure_count"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
