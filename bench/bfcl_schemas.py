"""BFCL schemas through our JSON-Schema tools: convert, accept every valid call, reject mutants.

    .venv/bin/python bench/bfcl_schemas.py --data ../shared/data/bfcl

For every function of the Berkeley Function Calling Leaderboard (v4: simple_python, multiple,
parallel, parallel_multiple), its BFCL schema is converted to JSON Schema and turned into an
``agent.tooling.JsonSchemaTool`` (so the LLM-facing strict schema is built too, and, when
xgrammar/llguidance are importable, compiled by them as vLLM would). Then:

* valid calls: every ground-truth call from ``possible_answer/`` becomes concrete calls: the
  first acceptable value of each parameter; each other acceptable value in turn; and the call
  with every omittable parameter (``""`` among its values) left out. Some alternatives
  contradict their own schema (a value outside the enum, a date not in the declared format,
  a required parameter marked omittable): a reference that shares no code with ours (stock
  Draft 2020-12 plus BFCL's "undeclared parameter" rule) sets those apart, they are listed,
  and must be rejected; every other call must validate.
* mutants of the first concrete call: a required parameter dropped, a value of the wrong type,
  a value outside an enum, an unexpected extra key. Each must be rejected by an error whose
  path names the mutated field.

Ids in ``known_dataset_inconsistencies.json`` (ground truth that contradicts its own schema) are
skipped. BFCL type names are mapped: ``dict`` -> ``object``, ``float`` -> ``number``, ``tuple``
-> ``array``, ``any`` -> no type constraint; a ``dict`` without ``properties`` is a free-form
mapping, so it is written ``additionalProperties: true`` (explicitly open: our validator treats
an absent ``additionalProperties`` as closed); BFCL's ``optional`` flag is dropped (``required``
already says it). Prints two tables and a final JSON line; exits 0 with a message when the data
directory is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from agent.errors import ConfigError
from agent.tooling import JsonSchemaTool, ToolArgumentsError

CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple")
TYPE_MAP = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "int": "integer",
    "str": "string",
    "bool": "boolean",
    "list": "array",
}
MUTATIONS = ("drop_required", "wrong_type", "outside_enum", "extra_key")
EXTRA_KEY = "unexpected_extra_param"
NOT_IN_ENUM = "__not_one_of_the_choices__"
WRONG_VALUES: dict[str, Any] = {
    "string": 12345,
    "integer": "not a number",
    "number": "not a number",
    "boolean": "not a boolean",
    "array": "not a list",
    "object": "not an object",
}


# ----------------------------------------------------------------------------- conversion


def convert(schema: Any) -> Any:
    """A BFCL parameter schema as JSON Schema (see module doc for the mapping)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "optional":
            continue
        if key == "type":
            if value == "any":
                continue
            out["type"] = TYPE_MAP.get(value, value)
        elif key == "properties":
            out["properties"] = {name: convert(sub) for name, sub in value.items()}
        elif key == "items":
            out["items"] = convert(value)
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" not in out:
        out.setdefault("additionalProperties", True)
    return out


# ----------------------------------------------------------------------------- ground truth


def materialize(value: Any) -> Any:
    """A concrete value from BFCL's answer format: dicts map keys to lists of alternatives."""
    if isinstance(value, dict):
        out = {}
        for key, alternatives in value.items():
            chosen = [a for a in alternatives if a != ""]
            if chosen:
                out[key] = materialize(chosen[0])
        return out
    if isinstance(value, list):
        return [materialize(v) for v in value]
    return value


def concrete_calls(answer: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """First choices; each other alternative in turn; all omittable parameters left out."""
    first = {
        p: materialize(next(v for v in vs if v != ""))
        for p, vs in answer.items()
        if any(v != "" for v in vs)
    }
    yield first
    for param, values in answer.items():
        others = [v for v in values if v != ""][1:]
        for value in others:
            yield {**first, param: materialize(value)}
    omittable = {p for p, vs in answer.items() if "" in vs}
    if omittable:
        yield {p: v for p, v in first.items() if p not in omittable}


def mutants(
    call: dict[str, Any], schema: dict[str, Any]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(kind, path the error must name, mutated call)."""
    props: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name in call:
            yield "drop_required", name, {k: v for k, v in call.items() if k != name}
    for name, value in call.items():
        sub = props.get(name, {})
        kind = sub.get("type")
        if isinstance(kind, str) and kind in WRONG_VALUES:
            yield "wrong_type", name, {**call, name: WRONG_VALUES[kind]}
        if "enum" in sub:
            yield "outside_enum", name, {**call, name: NOT_IN_ENUM}
        items = sub.get("items", {})
        if isinstance(items, dict) and "enum" in items and isinstance(value, list) and value:
            yield "outside_enum", f"{name}[0]", {**call, name: [NOT_IN_ENUM, *value[1:]]}
    yield "extra_key", EXTRA_KEY, {**call, EXTRA_KEY: 1}


# ----------------------------------------------------------------------------- backends


def backend_checks() -> dict[str, Callable[[dict[str, Any]], None]]:
    """The structured-output compilers vLLM would use, when installed."""
    checks: dict[str, Callable[[dict[str, Any]], None]] = {}
    try:
        import xgrammar

        def xgr(schema: dict[str, Any]) -> None:
            xgrammar.Grammar.from_json_schema(json.dumps(schema), strict_mode=True)

        checks["xgrammar"] = xgr
    except ImportError:
        pass
    try:
        import llguidance

        def llg(schema: dict[str, Any]) -> None:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(
                schema, defaults={"whitespace_flexible": True}
            )
            error = llguidance.LLMatcher.validate_grammar(grammar, None)
            if error:
                raise ValueError(error)

        checks["llguidance"] = llg
    except ImportError:
        pass
    return checks


def contradiction(schema: dict[str, Any], call: dict[str, Any]) -> str | None:
    """Why a ground-truth call contradicts its own schema, by a reference sharing no code with
    ours: stock Draft 2020-12 (formats checked; no closing, no coercion), plus BFCL's own checker
    rule that a parameter the function does not declare is an error. ``None`` when valid.
    """
    if set(call) - set(schema.get("properties", {})):
        return "undeclared parameter"
    reference = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    error = best_match(reference.iter_errors(call))
    return None if error is None else f"{error.validator} ({error.message[:70]})"


# ----------------------------------------------------------------------------- run


def _noop(**_: Any) -> None:
    return None


def _frac(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.1f}%)" if b else "-"


class Run:
    """Counters for one pass over the data, and what went wrong, for the report."""

    def __init__(self) -> None:
        self.stats: dict[str, Counter[str]] = defaultdict(Counter)
        self.kinds: dict[str, Counter[str]] = defaultdict(Counter)
        self.failures: list[str] = []
        self.contradictions: list[str] = []
        self.backends = backend_checks()

    def function(self, category: str, entry_id: str, fn: dict[str, Any]) -> JsonSchemaTool | None:
        st = self.stats[category]
        st["functions"] += 1
        try:
            tool = JsonSchemaTool(
                name=fn["name"],
                description=fn.get("description", ""),
                parameters=convert(fn["parameters"]),
                fn=_noop,
            )
        except ConfigError as exc:
            self.failures.append(f"{entry_id} {fn['name']}: not converted: {exc}")
            return None
        st["converted"] += 1
        for backend, check in self.backends.items():
            try:
                check(tool.parameters_schema())
                st[f"{backend}_ok"] += 1
            except Exception as exc:  # noqa: BLE001 - any compiler failure counts
                self.failures.append(f"{entry_id} {fn['name']}: {backend}: {exc}")
        return tool

    def valid_call(
        self,
        category: str,
        entry_id: str,
        tool: JsonSchemaTool,
        schema: dict[str, Any],
        call: dict[str, Any],
        first: bool,
    ) -> None:
        st = self.stats[category]
        reason = contradiction(schema, call)
        try:
            tool.validate(call)
            ours = None
        except ToolArgumentsError as exc:
            ours = str(exc)
        shown = json.dumps(call, ensure_ascii=False)[:160]
        if first:  # the ground truth's first choice for every parameter
            st["first_choice"] += 1
            st["first_choice_accepted"] += ours is None
            st["first_choice_contradicting"] += reason is not None
        if reason is None:
            st["valid"] += 1
            st["accepted"] += ours is None
            if ours is not None:
                self.failures.append(f"{entry_id} valid call rejected: {shown}\n{ours}")
            return
        st["contradicting"] += 1
        st["contradicting_rejected"] += ours is not None
        self.contradictions.append(f"{entry_id} {tool.name}: {reason}: {shown}")
        if ours is None:
            self.failures.append(f"{entry_id} contradicting call accepted ({reason}): {shown}")

    def mutant(
        self,
        category: str,
        entry_id: str,
        tool: JsonSchemaTool,
        kind: str,
        path: str,
        call: dict[str, Any],
    ) -> None:
        counters = (self.stats[category], self.kinds[kind])
        for counter in counters:
            counter["mutated"] += 1
        try:
            tool.validate(call)
        except ToolArgumentsError as exc:
            named = any(e.path == path for e in exc.errors)
            if not named:
                self.failures.append(f"{entry_id} {kind}: {path} not named:\n{exc}")
            for counter in counters:
                counter["rejected"] += 1
                counter["named"] += named
            return
        self.failures.append(f"{entry_id} {kind} {path} accepted: {json.dumps(call)[:200]}")


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def entries(data: Path) -> Iterator[tuple[str, dict[str, Any], list[Any] | None, bool]]:
    """``(category, entry, ground truth or None, listed as inconsistent)`` for every entry of
    the four categories, in file order. ``data`` is the ``bfcl`` folder."""
    inconsistent = {
        row[0] for row in json.loads((data / "known_dataset_inconsistencies.json").read_text())
    }
    for category in CATEGORIES:
        answers = {
            row["id"]: row["ground_truth"]
            for row in _lines(data / "possible_answer" / f"BFCL_v4_{category}.json")
        }
        for entry in _lines(data / f"BFCL_v4_{category}.json"):
            yield category, entry, answers.get(entry["id"]), entry["id"] in inconsistent


def run(data: Path) -> Run:
    result = Run()
    for category, entry, ground_truth, inconsistent in entries(data):
        if inconsistent:
            result.stats[category]["skipped_ids"] += 1
            continue
        tools = {}
        for fn in entry["function"]:
            tool = result.function(category, entry["id"], fn)
            if tool is not None:
                tools[fn["name"]] = (tool, convert(fn["parameters"]))
        for ground in ground_truth or []:
            for fname, answer in ground.items():
                if fname not in tools:
                    result.failures.append(f"{entry['id']}: no function {fname}")
                    continue
                tool, schema = tools[fname]
                calls = list(concrete_calls(answer))
                for index, call in enumerate(calls):
                    result.valid_call(category, entry["id"], tool, schema, call, index == 0)
                for kind, path, bad in mutants(calls[0], schema):
                    result.mutant(category, entry["id"], tool, kind, path, bad)
    return result


def report(result: Run, seconds: float, show: int, list_contradictions: bool) -> dict[str, Any]:
    for failure in result.failures[:show]:
        print(failure, file=sys.stderr)
    stats, kinds, backends = result.stats, result.kinds, list(result.backends)
    total: Counter[str] = sum(stats.values(), Counter())
    cols = ["converted", "valid accepted", "mutants rejected", "field named"]
    cols += [f"{b} compiles" for b in backends]
    print(f"{'category':<18}" + "".join(f" {c:<21}" for c in cols))
    for name, st in [*stats.items(), ("all", total)]:
        cells = [
            _frac(st["converted"], st["functions"]),
            _frac(st["accepted"], st["valid"]),
            _frac(st["rejected"], st["mutated"]),
            _frac(st["named"], st["mutated"]),
            *(_frac(st[b + "_ok"], st["converted"]) for b in backends),
        ]
        print(f"{name:<18}" + "".join(f" {c:<21}" for c in cells))
    print()
    print(f"{'mutation':<18} {'rejected':<21} {'field named':<21}")
    for kind in MUTATIONS:
        st = kinds[kind]
        print(
            f"{kind:<18} {_frac(st['rejected'], st['mutated']):<21} "
            f"{_frac(st['named'], st['mutated']):<21}"
        )
    print()
    print(
        "ground-truth calls, first acceptable value of every parameter: accepted "
        f"{_frac(total['first_choice_accepted'], total['first_choice'])}; "
        f"{total['first_choice_contradicting']} of them contradict their own schema"
    )
    print(
        f"ground-truth alternatives that contradict their own schema (excluded from 'valid'): "
        f"{total['contradicting']}, of which rejected by us: {total['contradicting_rejected']}"
    )
    reasons = Counter(line.split(": ", 2)[1].split(" (")[0] for line in result.contradictions)
    print("  by reason: " + ", ".join(f"{r}: {n}" for r, n in reasons.most_common()))
    if list_contradictions:
        for line in result.contradictions:
            print("  " + line)
    summary = {
        "bench": "bfcl_schemas",
        "functions": total["functions"],
        "converted": total["converted"],
        "first_choice_calls": total["first_choice"],
        "first_choice_accepted": total["first_choice_accepted"],
        "first_choice_contradicting": total["first_choice_contradicting"],
        "valid_calls": total["valid"],
        "accepted": total["accepted"],
        "contradicting_calls": total["contradicting"],
        "contradicting_rejected": total["contradicting_rejected"],
        "mutants": total["mutated"],
        "rejected": total["rejected"],
        "named": total["named"],
        "skipped_ids": total["skipped_ids"],
        **{f"{b}_compiled": total[b + "_ok"] for b in backends},
        "by_mutation": {k: dict(kinds[k]) for k in MUTATIONS},
        "failures": len(result.failures),
        "seconds": round(seconds, 2),
    }
    print()
    print(json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/bfcl"))
    parser.add_argument("--show-failures", type=int, default=20)
    parser.add_argument("--list-contradictions", action="store_true")
    args = parser.parse_args(argv)
    if not (args.data / "possible_answer").is_dir():
        print(f"BFCL data not found at {args.data}: skipping (pass --data DIR)")
        return 0
    start = time.perf_counter()
    result = run(args.data)
    report(result, time.perf_counter() - start, args.show_failures, args.list_contradictions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
