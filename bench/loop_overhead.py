"""Client-side cost of the agent loop, against a zero-latency scripted server.

Each run is 5 calculator tool steps plus a final answer (6 LLM calls). The scripted server runs
in its own process, so ``time.process_time()`` here counts only the client. Variants, interleaved
round by round so machine noise hits them alike; medians over rounds:

  raw       a plain AsyncOpenAI ``while finish_reason == "tool_calls"`` loop (the baseline)
  agent     our Agent, no checkpointer
  agent+db  our Agent with the default SQLite threads (a checkpoint saved at every step)
  agent+db/exit  the same with AGENT_DURABILITY=exit (saved once, when the run ends)
  prebuilt  LangGraph's prebuilt create_react_agent with ChatOpenAI

Tracing is off here (no tracer provider), as by default; the bench also times a span with
tracing off, to show what the spans of a run cost then.

    python bench/loop_overhead.py [--rounds 5] [--runs 20] [--concurrent-runs 128]
                                  [--gc-threshold 10000]

``--gc-threshold N`` sets Python's young-generation threshold for every variant alike, as
``agent serve`` does (``AGENT_SERVE_GC_THRESHOLD``, default 10000; ``agent.server.tune_gc``);
without it the bench runs with Python's default (700), as your own process would. The agents
freeze the start-up heap at their first run, as every agent does (``AGENT_GC_FREEZE=false`` in
the environment turns that off; the freeze is process-wide, so it applies to every variant).

Prints a table, ratios to ``raw``, and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agent.testing import spawn_loop_server

STEPS = 5
CALLS_PER_RUN = STEPS + 1
SPANS_PER_RUN = 1 + CALLS_PER_RUN + STEPS  # the run, each LLM call, each tool call
CONCURRENCY = 64

RunFn = Callable[[], Awaitable[str]]


async def make_variants(url: str, db_dir: Path) -> tuple[dict[str, RunFn], Callable[[], Any]]:
    import openai
    from langchain_core.tools import StructuredTool
    from langchain_openai import ChatOpenAI

    from agent.api import Agent
    from agent.settings import Settings
    from tools.calculator import CalculatorArgs, make_calculator_tool

    calc = make_calculator_tool()
    settings = Settings.load(
        llm_base_url=url,
        llm_model="scripted-model",
        tool_call_mode="native",
        data_dir=db_dir,
        max_steps=20,
        max_identical_calls=20,
        answer_samples=0,  # one request per step, as the other loops: the per-call overhead
    )
    agent_plain = Agent(settings, tools=[calc], persistence="none")
    agent_db = Agent(settings, tools=[calc], persistence="sqlite")
    agent_db_exit = Agent(
        settings.model_copy(update={"durability": "exit", "data_dir": db_dir / "exit"}),
        tools=[calc],
        persistence="sqlite",
    )

    client = openai.AsyncOpenAI(base_url=url, api_key="x")
    specs = [calc.openai_spec()]

    async def raw() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
        resp = await client.chat.completions.create(
            model="scripted-model",
            messages=messages,  # type: ignore[arg-type]
            tools=specs,  # type: ignore[arg-type]
        )
        while resp.choices[0].finish_reason == "tool_calls":
            msg = resp.choices[0].message
            messages.append(msg.model_dump(exclude_none=True))
            for tc in msg.tool_calls or ():
                args = json.loads(tc.function.arguments)  # type: ignore[union-attr]
                out = await calc.ainvoke(calc.validate(args))
                messages.append({"role": "tool", "tool_call_id": tc.id, "content": str(out)})
            resp = await client.chat.completions.create(
                model="scripted-model",
                messages=messages,  # type: ignore[arg-type]
                tools=specs,  # type: ignore[arg-type]
            )
        return resp.choices[0].message.content or ""

    async def ours_plain() -> str:
        return (await agent_plain.arun("go")).answer

    async def ours_db() -> str:
        return (await agent_db.arun("go")).answer

    async def ours_db_exit() -> str:
        return (await agent_db_exit.arun("go")).answer

    async def calc_fn(expression: str) -> str:
        return str(await calc.ainvoke(calc.validate({"expression": expression})))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langgraph.prebuilt import create_react_agent

        lc_tool = StructuredTool.from_function(
            coroutine=calc_fn,
            name="calculator",
            description=calc.description,
            args_schema=CalculatorArgs,
        )
        prebuilt_graph = create_react_agent(
            ChatOpenAI(model="scripted-model", base_url=url, api_key="x"),  # type: ignore[arg-type]
            [lc_tool],
        )

    async def prebuilt() -> str:
        state = await prebuilt_graph.ainvoke(
            {"messages": [("user", "go")]}, {"recursion_limit": 100}
        )
        return str(state["messages"][-1].content)

    async def close() -> None:
        await agent_plain.aclose()
        await agent_db.aclose()
        await agent_db_exit.aclose()
        await client.close()

    variants: dict[str, RunFn] = {
        "raw": raw,
        "agent": ours_plain,
        "agent+db": ours_db,
        "agent+db/exit": ours_db_exit,
        "prebuilt": prebuilt,
    }
    return variants, close


def span_cost_off_us(n: int = 20_000) -> float:
    """Client CPU of one ``span()`` with tracing off (no tracer provider), in microseconds."""
    from agent.tracing import span

    cpu0 = time.process_time()
    for i in range(n):
        with span("chat scripted-model", gen_ai__operation__name="chat", gen_ai__request__model=i):
            pass
    return 1e6 * (time.process_time() - cpu0) / n


async def measure(fn: RunFn, runs: int, concurrent_runs: int) -> dict[str, float]:
    answer = await fn()  # warm-up (and correctness check)
    assert answer == "done", f"unexpected answer {answer!r}"
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(runs):
        await fn()
    cpu_seq = time.process_time() - cpu0
    wall_seq = time.perf_counter() - wall0

    sem = asyncio.Semaphore(CONCURRENCY)

    async def bounded() -> str:
        async with sem:
            return await fn()

    wall0 = time.perf_counter()
    await asyncio.gather(*(bounded() for _ in range(concurrent_runs)))
    wall_conc = time.perf_counter() - wall0
    return {
        "cpu_ms_per_call": 1000 * cpu_seq / (runs * CALLS_PER_RUN),
        "runs_per_s_seq": runs / wall_seq,
        "runs_per_s_64": concurrent_runs / wall_conc,
    }


async def main_async(ns: argparse.Namespace) -> dict[str, Any]:
    proc, url = spawn_loop_server(STEPS)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            variants, close = await make_variants(url, Path(tmp))
            samples: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
            for r in range(ns.rounds):
                order = list(variants) if r % 2 == 0 else list(reversed(variants))
                for name in order:
                    samples[name].append(await measure(variants[name], ns.runs, ns.concurrent_runs))
                print(f"round {r + 1}/{ns.rounds} done", file=sys.stderr)
            await close()
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        name: {k: statistics.median(s[k] for s in rows) for k in rows[0]}
        for name, rows in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20, help="sequential runs per round")
    parser.add_argument(
        "--concurrent-runs",
        type=int,
        default=128,
        help=f"runs per round at {CONCURRENCY} in flight",
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=0,
        help="the garbage collector's young-generation threshold for all variants, as "
        "`agent serve` sets it (0: Python's default, 700)",
    )
    ns = parser.parse_args()
    if ns.gc_threshold:
        from agent.server import tune_gc

        tune_gc(ns.gc_threshold)
    result = asyncio.run(main_async(ns))
    base = result["raw"]
    print(
        f"\nloop overhead: {STEPS} tool steps + final answer per run, {ns.rounds} rounds "
        f"(medians), {os.cpu_count()} cores, zero-latency scripted server in its own process, "
        f"gc threshold {ns.gc_threshold or 700}"
    )
    header = (
        f"{'variant':<14} {'CPU ms/call':>12} {'x raw':>7} {'runs/s seq':>11} "
        f"{'runs/s @64':>11} {'x raw':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, m in result.items():
        print(
            f"{name:<14} {m['cpu_ms_per_call']:>12.2f} "
            f"{m['cpu_ms_per_call'] / base['cpu_ms_per_call']:>7.2f} "
            f"{m['runs_per_s_seq']:>11.1f} {m['runs_per_s_64']:>11.1f} "
            f"{m['runs_per_s_64'] / base['runs_per_s_64']:>7.2f}"
        )
    agent, prebuilt, db = result["agent"], result["prebuilt"], result["agent+db"]
    span_us = span_cost_off_us()
    spans_ms_per_call = span_us * SPANS_PER_RUN / CALLS_PER_RUN / 1000
    print(
        f"tracing off: {span_us:.1f} us per span, {SPANS_PER_RUN} spans per run = "
        f"{spans_ms_per_call:.3f} ms per call "
        f"({100 * spans_ms_per_call / agent['cpu_ms_per_call']:.1f} % of the agent's CPU)"
    )
    summary = {
        "bench": "loop_overhead",
        "rounds": ns.rounds,
        "gc_threshold": ns.gc_threshold or 700,
        "results": result,
        "cpu_ratio_agent_vs_raw": agent["cpu_ms_per_call"] / base["cpu_ms_per_call"],
        "cpu_ratio_agent_vs_prebuilt": agent["cpu_ms_per_call"] / prebuilt["cpu_ms_per_call"],
        "conc_ratio_agent_vs_raw": agent["runs_per_s_64"] / base["runs_per_s_64"],
        "cpu_ratio_agent_db_vs_raw": db["cpu_ms_per_call"] / base["cpu_ms_per_call"],
        "conc_ratio_agent_db_vs_raw": db["runs_per_s_64"] / base["runs_per_s_64"],
        "tracing_off_us_per_span": span_us,
    }
    summary["targets_met"] = (
        summary["cpu_ratio_agent_vs_raw"] <= 1.3
        and summary["cpu_ratio_agent_vs_prebuilt"] <= 0.7
        and summary["conc_ratio_agent_vs_raw"] >= 0.8
    )
    summary["persistence_targets_met"] = (
        summary["cpu_ratio_agent_db_vs_raw"] <= 1.3 and summary["conc_ratio_agent_db_vs_raw"] >= 0.8
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
