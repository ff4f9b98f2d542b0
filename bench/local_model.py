"""Tool calling on the served local model, per tool-call mode: valid calls, correct answers, speed.

Runs every question of a calculator set with known answers through ``agent.api.Agent`` once per
mode (``native``: tool_choice=auto + the server's hermes parser; ``required``: tool_choice=required
+ a final_answer tool), against the server at AGENT_LLM_BASE_URL (start it with
``agent llm serve --detach``). Per mode:

* valid call rate: tool calls whose arguments validated (and named a real tool) / calls made. In
  native mode a call the model wrote as text that the server did not parse counts as one
  invalid call (the agent sees no call at all, just JSON in the answer).
* correct rate: answers containing the expected number (1e-6 relative tolerance) that are not
  a tool call written as text.
* time to first token and decode tok/s: from vLLM's own /metrics (time_to_first_token and
  request_decode_time histograms, generation_tokens counter), differenced over the mode's run,
  so they are server-side figures averaged over every LLM call of the mode.
* wall time per question, client side, including every LLM call and tool call of the run.

    python bench/local_model.py [--modes native,required] [--offset N] [--limit N]
                                [--max-tokens 256] [--verbose]

Prints a table and a final JSON line. Numbers depend heavily on machine load: say what else ran.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from langchain_core.messages import ToolMessage

from agent.api import Agent
from agent.errors import AgentError, RunError
from agent.settings import Settings

# (question, expected): arithmetic, precedence, decimals, percentages, powers, roots, functions,
# word problems and unit-free conversions; each needs exactly one number in the answer.
QUESTIONS: list[tuple[str, float]] = [
    ("What is (1234 + 5678) / 2?", 3456),
    ("What is 17 * 23 - 4?", 387),
    ("What is 2 to the power of 10?", 1024),
    ("What is the square root of 144, plus 5?", 17),
    ("What is 15% of 240?", 36),
    ("I have 3 boxes of 48 apples and eat 7 apples. How many apples are left?", 137),
    ("What is 1000 divided by 8?", 125),
    ("What is 99 * 99?", 9801),
    ("What is 12.5 * 4 + 0.75?", 50.75),
    ("A rectangle is 13 cm by 7 cm. What is its area in square centimetres?", 91),
    ("What is 5000 - 1234 - 567?", 3199),
    ("What is 7 factorial?", 5040),
    ("What is 3.5 squared?", 12.25),
    ("What is 2 + 3 * 4?", 14),
    ("What is (2 + 3) * 4?", 20),
    ("What is 144 divided by 12, times 3?", 36),
    ("What is 1 / 4 + 1 / 8?", 0.375),
    ("What is 123456 + 654321?", 777777),
    ("What is 98765 - 43210?", 55555),
    ("What is 250 * 0.8?", 200),
    ("A shirt costs 40 dollars and is 25% off. What is the sale price in dollars?", 30),
    ("What is the cube of 6?", 216),
    ("What is 17 modulo 5 (the remainder of 17 divided by 5)?", 2),
    ("What is 100 integer-divided by 7 (floor division)?", 14),
    ("What is the average of 10, 20 and 60?", 30),
    ("A car travels 60 km per hour for 2.5 hours. How many km does it travel?", 150),
    ("What is 45 * 12 + 30?", 570),
    ("What is 9 * 8 * 7?", 504),
    ("What is 0.1 + 0.2?", 0.3),
    ("What is 2 to the power of 16?", 65536),
    ("What is 81 divided by 9, minus 4?", 5),
    ("How many seconds are there in 3 hours?", 10800),
]
MODES = ("native", "required")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_METRICS = {
    "ttft_sum": "vllm:time_to_first_token_seconds_sum",
    "ttft_count": "vllm:time_to_first_token_seconds_count",
    "decode_s": "vllm:request_decode_time_seconds_sum",
    "gen_tokens": "vllm:generation_tokens_total",
    "prompt_tokens": "vllm:prompt_tokens_total",
}


def mentions(answer: str, expected: float) -> bool:
    numbers = [float(n) for n in _NUMBER.findall(answer.replace(",", ""))]
    return any(math.isclose(n, expected, rel_tol=1e-6, abs_tol=1e-9) for n in numbers)


def call_written_as_text(answer: str) -> bool:
    """The model wrote a tool call into its answer instead of making one (native mode)."""
    return '"name"' in answer and ('"arguments"' in answer or '"parameters"' in answer)


@dataclass
class QuestionResult:
    question: str
    expected: float
    answer: str
    correct: bool
    calls: int
    invalid_calls: int
    wall_s: float
    error: str | None = None


@dataclass
class ModeReport:
    mode: str
    results: list[QuestionResult] = field(default_factory=list)
    server: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        calls = sum(r.calls for r in self.results)
        invalid = sum(r.invalid_calls for r in self.results)
        walls = [r.wall_s for r in self.results]
        ttft_n = self.server.get("ttft_count", 0.0)
        decode_s = self.server.get("decode_s", 0.0)
        return {
            "mode": self.mode,
            "questions": len(self.results),
            "tool_calls": calls,
            "valid_call_rate": round((calls - invalid) / calls, 4) if calls else 0.0,
            "correct_rate": round(sum(r.correct for r in self.results) / len(self.results), 4),
            "run_errors": sum(r.error is not None for r in self.results),
            "llm_calls": int(ttft_n),
            "ttft_mean_s": round(self.server["ttft_sum"] / ttft_n, 3) if ttft_n else None,
            "decode_tok_s": round(self.server["gen_tokens"] / decode_s, 2) if decode_s else None,
            "wall_mean_s": round(statistics.mean(walls), 2),
            "wall_p50_s": round(statistics.median(walls), 2),
            "wall_max_s": round(max(walls), 2),
        }


def scrape(base_url: str, model: str) -> dict[str, float]:
    root = base_url.removesuffix("/v1")
    text = httpx.get(f"{root}/metrics", timeout=10).text
    values: dict[str, float] = {}
    for key, metric in _METRICS.items():
        pattern = re.compile(
            rf"^{re.escape(metric)}\{{[^}}]*model_name=\"{re.escape(model)}\"[^}}]*\}} (\S+)$",
            re.M,
        )
        values[key] = sum(float(m) for m in pattern.findall(text))
    return values


def _is_invalid(is_error: bool, content: str) -> bool:
    """A call that failed validation (or named no tool), as opposed to a tool refusing it."""
    return is_error and ("Fix the arguments" in content or content.startswith("Unknown tool"))


def run_question(agent: Agent, question: str, expected: float, mode: str) -> QuestionResult:
    started = time.perf_counter()
    try:
        result = agent.run(question)
    except RunError as exc:
        # The calls made before the run stopped still count towards the valid-call rate.
        outputs = [m for m in exc.transcript if isinstance(m, ToolMessage)]
        real = [m for m in outputs if m.name != "final_answer"]
        invalid = sum(_is_invalid(m.status == "error", str(m.content)) for m in real)
        return QuestionResult(
            question, expected, "", False, len(real), invalid, time.perf_counter() - started,
            error=f"{type(exc).__name__}: {str(exc)[:120]}",
        )  # fmt: skip
    except AgentError as exc:
        return QuestionResult(
            question, expected, "", False, 0, 0, time.perf_counter() - started,
            error=f"{type(exc).__name__}: {str(exc)[:120]}",
        )  # fmt: skip
    wall = time.perf_counter() - started
    calls = len(result.tool_calls)
    invalid = sum(_is_invalid(c.is_error, c.content) for c in result.tool_calls)
    if mode == "native" and call_written_as_text(result.answer):
        calls, invalid = calls + 1, invalid + 1
    # A call written as text is not an answer, even when it happens to contain the number.
    correct = mentions(result.answer, expected) and not call_written_as_text(result.answer)
    return QuestionResult(question, expected, result.answer, correct, calls, invalid, wall)


def run_mode(
    base: Settings, mode: str, questions: list[tuple[str, float]], verbose: bool
) -> ModeReport:
    report = ModeReport(mode)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(**{**base.model_dump(), "tool_call_mode": mode, "data_dir": tmp})
        before = scrape(settings.llm_base_url, settings.llm_model)
        with Agent(settings, persistence="memory") as agent:
            for i, (question, expected) in enumerate(questions, 1):
                r = run_question(agent, question, expected, mode)
                report.results.append(r)
                if verbose:
                    mark = "ok " if r.correct else "BAD"
                    detail = r.error or repr(r.answer[:70])
                    print(
                        f"  [{mode} {i:2}/{len(questions)}] {mark} {r.wall_s:5.1f}s "
                        f"calls={r.calls} invalid={r.invalid_calls} {question[:45]!r} -> {detail}",
                        file=sys.stderr,
                        flush=True,
                    )
        after = scrape(settings.llm_base_url, settings.llm_model)
    report.server = {k: after[k] - before[k] for k in after}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--offset", type=int, default=0, help="skip the first N questions")
    parser.add_argument("--limit", type=int, default=len(QUESTIONS))
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=256,
        help="cap per LLM reply (in native mode the model can repeat a JSON call until the cap)",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    base = Settings.load(max_tokens=args.max_tokens, mcp_servers=[])
    try:
        models = [
            m["id"] for m in httpx.get(f"{base.llm_base_url}/models", timeout=5).json()["data"]
        ]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        sys.exit(f"no server at {base.llm_base_url} ({exc}); start it: agent llm serve --detach")
    if base.llm_model not in models:
        sys.exit(f"{base.llm_base_url} serves {models}, not {base.llm_model}")

    questions = QUESTIONS[args.offset : args.offset + args.limit]
    summaries = []
    for mode in args.modes.split(","):
        summaries.append(run_mode(base, mode, questions, args.verbose).summary())

    cols = [
        ("mode", "mode", "{}"), ("questions", "n", "{}"), ("tool_calls", "calls", "{}"),
        ("valid_call_rate", "valid calls", "{:.1%}"), ("correct_rate", "correct", "{:.1%}"),
        ("run_errors", "run errors", "{}"), ("llm_calls", "LLM calls", "{}"),
        ("ttft_mean_s", "TTFT s", "{}"), ("decode_tok_s", "decode tok/s", "{}"),
        ("wall_mean_s", "wall/q s", "{}"), ("wall_p50_s", "p50 s", "{}"),
        ("wall_max_s", "max s", "{}"),
    ]  # fmt: skip
    print(" | ".join(title for _, title, _ in cols))
    for s in summaries:
        print(" | ".join(fmt.format(s[key]) if s[key] is not None else "-" for key, _, fmt in cols))
    print(
        json.dumps(
            {
                "bench": "local_model",
                "model": base.llm_model,
                "base_url": base.llm_base_url,
                "cpus": os.cpu_count(),
                "max_tokens": base.max_tokens,
                "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
                "modes": summaries,
            }
        )
    )


if __name__ == "__main__":
    main()
