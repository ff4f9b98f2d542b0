"""What the served model's dtype costs an agent's requests, on the server that is running.

Run it once per dtype (``AGENT_VLLM_DTYPE=bfloat16`` / ``float32 agent llm serve``) and compare
the rows. Two kinds of request, on third-party data:

  gsm8k-bare   the bench's bare prompt on GSM8K questions: a short prompt, a long reply
               (decoding dominates)
  triage-d4j   the real triage (reduce, lookup, one structured LLM call) on Defects4J traces:
               a long prompt of trace and KB entries, a short reply (reading the prompt weighs)

    python bench/serve_dtype.py --data ../shared/data [--n 3]

Prints a table (kind, input, seconds, tokens) and a final JSON line with the
server's dtype as its pid file records it; skips cleanly without the data or the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
from agent_tasks import run_bare
from task_suites.base import Task
from task_suites.triage import Triage

from agent.local import ServerConfig, local_model_paths, read_pid_file
from agent.settings import Settings


async def gsm8k_rows(settings: Settings, data: Path, n: int) -> list[dict[str, Any]]:
    lines = (data / "gsm8k" / "train.jsonl").read_text().splitlines()
    random.Random(97).shuffle(lines)
    rows = []
    async with openai.AsyncOpenAI(
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value(),
        timeout=settings.llm_timeout_s,
    ) as client:
        for line in lines[:n]:
            question = json.loads(line)["question"]
            started = time.perf_counter()
            out = await run_bare(client, settings, Task("gsm8k", "", question, None))
            rows.append(
                {
                    "kind": "gsm8k-bare",
                    "input": question[:40],
                    "seconds": round(time.perf_counter() - started, 1),
                    "total_tokens": out.tokens,
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


async def triage_rows(settings: Settings, data: Path, n: int) -> list[dict[str, Any]]:
    suite = Triage()
    try:
        tasks = [t for t in suite.load(data, 20, 0) if t.id.startswith("d4j")][:n]
        rows = []
        for task in tasks:
            started = time.perf_counter()
            out = await suite.run_agent(task, settings)
            rows.append(
                {
                    "kind": "triage-d4j",
                    "input": task.id,
                    "seconds": round(time.perf_counter() - started, 1),
                    "total_tokens": out.tokens if out else None,
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
        return rows
    finally:
        suite.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=3, help="inputs of each kind")
    args = parser.parse_args(argv)
    if not (args.data / "gsm8k").is_dir() or not (args.data / "defects4j").is_dir():
        print(f"skipped: no gsm8k/ or defects4j/ under {args.data}")
        return 0
    settings = Settings.load()
    try:
        httpx.get(f"{settings.llm_base_url}/models", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        print(f"skipped: no server at {settings.llm_base_url} ({exc})")
        return 0
    state = read_pid_file(
        ServerConfig.from_settings(settings, model_dir=local_model_paths(settings).model_dir)
    )
    dtype = state.get("dtype", "unknown") if state else "not a local server"
    rows = asyncio.run(gsm8k_rows(settings, args.data, args.n))
    rows += asyncio.run(triage_rows(settings, args.data, args.n))
    print(f"\nserver {settings.llm_base_url}, model {settings.llm_model}, dtype {dtype}\n")
    print("| kind | input | seconds | tokens |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {r['input']} | {r['seconds']} | {r['total_tokens']} |")
    summary = {
        kind: statistics.median(r["seconds"] for r in rows if r["kind"] == kind)
        for kind in ("gsm8k-bare", "triage-d4j")
        if any(r["kind"] == kind for r in rows)
    }
    print(json.dumps({"dtype": dtype, "median_seconds": summary, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
